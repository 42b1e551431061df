"""The status bar's figure for a model: val mIoU, or its recipe's unseen-drive mIoU when val was trained on."""

from camvid_viewer.ui.status import card_figure


def _fold(miou: float) -> dict:
    return {"held_out": {"0001TP": 62}, "held_out_metrics": {"mean_iou": miou, "pixel_accuracy": 0.8}}


def test_a_model_validated_on_val_shows_its_val_miou():
    assert card_figure({"val_metrics": {"mean_iou": 0.7188}}) == "val mIoU 71.88%"
    assert card_figure({}) == "val mIoU n/a"  # an ONNX model without a card figure


def test_a_model_trained_on_val_shows_what_its_recipe_scored_on_an_unseen_drive():
    card = {"val_metrics": {"mean_iou": 0.93}, "val_trained_on": True, "recipe_folds": [_fold(0.52), _fold(0.60)]}
    assert card_figure(card) == "unseen-drive mIoU 56.00%"  # the folds' mean, never the trained-on 93%
    assert card_figure(dict(card, recipe_folds=[])) == "val mIoU 93.00%, trained on"  # no fold: said for what it is
