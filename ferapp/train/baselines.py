"""Is a trained model better than guessing? The baselines every run is compared with.

From the folds' test confusion matrices alone (Qt-free; the training wizard's results page,
``ferapp train`` and the saved model's card use it):

* majority-class baseline: always answering the most frequent class of each fold's test part
  (mean over folds, like the model's accuracy);
* chance: answering one of the model's classes uniformly at random (1 / classes);
* collapse: the share of the test images given the single most predicted class.

A model whose mean accuracy is not above both baselines learned nothing usable: the wizard
warns, asks before saving it and does not offer it for the live view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

COLLAPSE_SHARE = 0.9  # one class predicted for at least this share of the test images


@dataclass(frozen=True)
class Baselines:
    accuracy: float  # the model's mean accuracy over the tested folds
    majority: float  # mean over folds of the test part's most frequent class share
    majority_class: str  # the most frequent class of all test parts together
    chance: float  # 1 / number of classes the model can predict
    top_prediction: str  # the class predicted most often (all folds pooled)
    top_prediction_share: float  # ... and its share of the test images
    n_classes: int

    @property
    def best(self) -> float:
        return max(self.majority, self.chance)

    @property
    def beaten(self) -> bool:
        """True when the model is better than both guessing rules."""
        return self.accuracy > self.best

    @property
    def collapsed(self) -> bool:
        return self.top_prediction_share >= COLLAPSE_SHARE and self.n_classes > 1

    def summary(self) -> str:
        """ "majority class (happy) 26.9 %, chance 16.7 %" for the results page and the CLI."""
        return (
            f"always '{self.majority_class}' (majority class) {100 * self.majority:.1f} %, "
            f"chance {100 * self.chance:.1f} %"
        )

    def warning(self) -> str:
        """What is wrong with the model, in one or two sentences ("" when it beats both)."""
        bits = []
        if not self.beaten:
            rule = "always answering the most frequent class" if self.majority >= self.chance else "guessing"
            bits.append(
                f"Accuracy {100 * self.accuracy:.1f} % is not above {rule} "
                f"({100 * self.best:.1f} %): the model has not learned to tell the expressions apart."
            )
        if self.collapsed:
            bits.append(
                f"It answers '{self.top_prediction}' for {100 * self.top_prediction_share:.0f} % of the "
                "test images."
            )
        if bits:
            bits.append("Train longer (more epochs), with a higher learning rate or on more data.")
        return " ".join(bits)

    def to_dict(self) -> dict:
        return {**asdict(self), "beaten": self.beaten}


def run_baselines(confusions: Sequence[np.ndarray], labels: Sequence[str]) -> Baselines | None:
    """Baselines of a run from its tested folds' confusion matrices (rows true, columns
    predicted, in ``labels`` order); None without a tested image."""
    cms = [np.asarray(c, np.int64) for c in confusions if np.asarray(c).sum() > 0]
    if not cms or not labels:
        return None
    accs = [np.trace(c) / c.sum() for c in cms]
    majority = [c.sum(1).max() / c.sum() for c in cms]
    pooled = np.sum(cms, axis=0)
    predicted = pooled.sum(0)
    return Baselines(
        accuracy=float(np.mean(accs)),
        majority=float(np.mean(majority)),
        majority_class=str(labels[int(np.argmax(pooled.sum(1)))]),
        chance=1.0 / len(labels),
        top_prediction=str(labels[int(np.argmax(predicted))]),
        top_prediction_share=float(predicted.max() / pooled.sum()),
        n_classes=len(labels),
    )


def result_baselines(result) -> Baselines | None:
    """``run_baselines`` of a ``RunResult`` (its folds with a test result)."""
    tested = [f.test for f in getattr(result, "folds", []) if f.test is not None]
    if not tested:
        return None
    return run_baselines([t.confusion for t in tested], tested[0].labels)


__all__ = ["COLLAPSE_SHARE", "Baselines", "result_baselines", "run_baselines"]
