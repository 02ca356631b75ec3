"""Linear classifiers for sparse features, trained by L-BFGS: softmax regression and a one-vs-rest SVM.

Written with numpy and scipy only; 10,000 messages with ~10^5 features train in seconds.
``LogisticRegression`` backs the default (seed-example) intent model; ``LinearSVM`` is what
``minyi train`` fits, because on residents' messages it separates the classes better (docs/ACCURACY.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bot.text.features import Rows

if TYPE_CHECKING:
    import scipy.sparse as sp

# scipy (its sparse matrices, optimize and linalg) is imported inside the training code: a trained model
# (every start of ``minyi run``) classifies ``Rows`` without it, and importing scipy costs time and
# resident memory.


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


class _LinearClassifier:
    """What the linear classifiers share: labels, one weight column per class, argmax prediction."""

    name: ClassVar[str]
    """How model files name the classifier."""

    def __init__(self, c: float, max_iter: int) -> None:
        self.c = c
        """Inverse regularisation strength."""
        self.max_iter = max_iter
        self.labels: list[str] = []
        self.coef = np.zeros((0, 0))
        self.intercept = np.zeros(0)

    def _targets(self, y: Sequence[str], other: float) -> tuple[np.ndarray, np.ndarray]:
        """Set ``labels`` from ``y`` (sorted); return each row's class index and an n × classes matrix
        holding 1 at the row's class and ``other`` elsewhere (0 for one-hot, −1 for one-vs-rest)."""
        self.labels = sorted(set(y))
        if len(self.labels) < 2:
            raise ValueError("training needs at least two different labels")
        index = {label: i for i, label in enumerate(self.labels)}
        yi = np.asarray([index[label] for label in y])
        targets = np.full((len(yi), len(self.labels)), other)
        targets[np.arange(len(yi)), yi] = 1.0
        return yi, targets

    def decision(self, x: sp.csr_matrix | Rows) -> np.ndarray:
        """Raw class scores (n × classes), columns in the order of ``labels``."""
        if isinstance(x, Rows):
            return x.dot(self.coef) + self.intercept
        return np.asarray(x @ self.coef) + self.intercept

    def predict(self, x: sp.csr_matrix | Rows) -> list[str]:
        """The label with the highest score for each row."""
        return [self.labels[i] for i in self.decision(x).argmax(axis=1)]


class LogisticRegression(_LinearClassifier):
    """Softmax regression: ``fit(X, y)`` learns ``coef`` (features × classes) and ``intercept``.

    ``c`` is the inverse regularisation strength (as in scikit-learn: loss = C·Σ log-loss + ½‖W‖²).
    ``class_weight="balanced"`` weighs each class inversely to its frequency.
    """

    name = "logistic"

    def __init__(self, c: float = 10.0, max_iter: int = 300, class_weight: str | None = None):
        super().__init__(c, max_iter)
        self.class_weight = class_weight

    def fit(self, x: sp.csr_matrix, y: Sequence[str]) -> LogisticRegression:
        """Learn the weights from sparse rows ``x`` and their labels ``y``."""
        yi, onehot = self._targets(y, other=0.0)
        n, d = x.shape
        k = len(self.labels)
        if self.class_weight == "balanced":
            counts = np.bincount(yi, minlength=k).astype(np.float64)
            sample_w = (n / (k * counts))[yi]
        else:
            sample_w = np.ones(n)
        xt = x.T.tocsr()
        c = self.c

        def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[: d * k].reshape(d, k)
            b = theta[d * k :]
            z = np.asarray(x @ w) + b
            z -= z.max(axis=1, keepdims=True)
            logsum = np.log(np.exp(z).sum(axis=1))
            logp = z - logsum[:, None]
            loss = -c * float((sample_w * (logp * onehot).sum(axis=1)).sum()) + 0.5 * float(
                (w * w).sum()
            )
            r = c * sample_w[:, None] * (np.exp(logp) - onehot)
            gw = np.asarray(xt @ r) + w
            gb = r.sum(axis=0)
            return loss, np.concatenate([gw.ravel(), gb])

        from scipy.optimize import minimize

        theta0 = np.zeros(d * k + k)
        res = minimize(
            loss_grad,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": 1e-6},
        )
        self.coef = res.x[: d * k].reshape(d, k)
        self.intercept = res.x[d * k :]
        return self

    def predict_proba(self, x: sp.csr_matrix | Rows) -> np.ndarray:
        """Class probabilities (n × classes), columns in the order of ``labels``."""
        return softmax(self.decision(x))


def _axpy(x: np.ndarray, y: np.ndarray, a: float) -> np.ndarray:
    """``y + a·x``, computed in ``y``'s memory (float32 BLAS): one pass instead of numpy's three."""
    from scipy.linalg.blas import saxpy

    out: np.ndarray = saxpy(x, y, a=a)
    return out


def lbfgs(
    loss_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    max_iter: int,
    memory: int = 5,
    rtol: float = 1e-6,
) -> np.ndarray:
    """Minimise a smooth unconstrained function with L-BFGS and a backtracking (Armijo) line search.

    scipy's L-BFGS-B spends about a second per iteration on its bound bookkeeping when there are
    millions of weights (features × classes); without bounds the two-loop recursion is a few dot
    products, so the sparse products of ``loss_grad`` are the whole cost again.
    Stops after ``max_iter`` iterations or when the loss improves by less than ``rtol`` (relative).
    """
    loss, grad = loss_grad(theta)
    # The curvature pairs are kept in float32: with millions of weights the recursion is bound by
    # memory traffic, and the search direction needs no more precision than that.
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    rho: list[float] = []
    for it in range(max_iter):
        # Two-loop recursion: direction = −H·grad with the last ``memory`` curvature pairs.
        q = grad.astype(np.float32)
        alphas = []
        for s_i, y_i, r_i in zip(reversed(s_hist), reversed(y_hist), reversed(rho), strict=True):
            a = r_i * float(s_i @ q)
            alphas.append(a)
            q = _axpy(y_i, q, -a)
        if s_hist:
            q *= np.float32(1.0 / (rho[-1] * float(y_hist[-1] @ y_hist[-1])))
        else:
            q /= np.float32(max(float(np.sqrt(grad @ grad)), 1e-12))  # first step: unit length
        for s_i, y_i, r_i, a in zip(s_hist, y_hist, rho, reversed(alphas), strict=True):
            q = _axpy(s_i, q, a - r_i * float(y_i @ q))
        direction = -q.astype(np.float64)
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction (numerical noise): restart from the gradient
            s_hist.clear()
            y_hist.clear()
            rho.clear()
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0
        for _ in range(30):
            new_theta = theta + step * direction
            new_loss, new_grad = loss_grad(new_theta)
            if new_loss <= loss + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s_new = (new_theta - theta).astype(np.float32)
        y_new = (new_grad - grad).astype(np.float32)
        sy = float(s_new @ y_new)
        if sy > 1e-12:
            s_hist.append(s_new)
            y_hist.append(y_new)
            rho.append(1.0 / sy)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
                rho.pop(0)
        improved = loss - new_loss
        theta, loss, grad = new_theta, new_loss, new_grad
        if it > 0 and improved <= rtol * max(abs(loss), 1.0):
            break
    return theta


class LinearSVM(_LinearClassifier):
    """One-vs-rest linear SVM with the squared hinge loss and L2 regularisation (as liblinear's default).

    Each class gets its own weight column, trained against all other classes; the columns are fitted
    together in one L-BFGS run (their losses are independent, so this is the same as fitting them one by
    one, but every pass over the data serves all classes). ``c`` is the inverse regularisation strength
    (loss = C·Σ max(0, 1 − y·(w·x + b))² + ½‖w‖²; the bias is not regularised).

    ``predict_proba`` turns the margins into probabilities with a softmax of ``proba_scale`` × score: an
    SVM has no probabilities of its own. 3 gave the lowest held-out log-loss for both intent and
    department (scales 1–8 tried once on a split other than the reported folds).
    """

    name = "svm"

    def __init__(self, c: float = 0.3, max_iter: int = 60, proba_scale: float = 3.0) -> None:
        super().__init__(c, max_iter)
        self.proba_scale = proba_scale

    def fit(self, x: sp.csr_matrix, y: Sequence[str]) -> LinearSVM:
        """Learn the weights from sparse rows ``x`` and their labels ``y``."""
        _, signs = self._targets(y, other=-1.0)
        d = x.shape[1]
        k = len(self.labels)
        # The two sparse products dominate the cost; float32 halves it (the figures in
        # docs/ACCURACY.md are measured with it; summation order alone moves them by a few thousandths).
        # x·W runs on the CSC form (a view of xᵀ in CSR): it walks W row by row instead of jumping
        # between rows for every stored entry, about 2.5 times faster with 200,000 features.
        import scipy.sparse as sp

        xt32 = sp.csr_matrix(x, dtype=np.float32).T.tocsr()
        xc32 = xt32.T
        c = self.c
        dk = d * k

        def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[:dk].reshape(d, k)
            z = np.asarray(xc32 @ w.astype(np.float32), dtype=np.float64) + theta[dk:]
            margin = np.maximum(0.0, 1.0 - signs * z)
            loss = c * float((margin * margin).sum()) + 0.5 * float(theta[:dk] @ theta[:dk])
            r = -2.0 * c * signs * margin
            grad = np.empty_like(theta)  # written in place: millions of weights, one pass each
            np.add(xt32 @ r.astype(np.float32), w, out=grad[:dk].reshape(d, k))
            grad[dk:] = r.sum(axis=0)
            return loss, grad

        theta = lbfgs(loss_grad, np.zeros(dk + k), self.max_iter)
        self.coef = theta[:dk].reshape(d, k)
        self.intercept = theta[dk:]
        return self

    def predict_proba(self, x: sp.csr_matrix | Rows) -> np.ndarray:
        """Class probabilities (n × classes) from a softmax of the scaled margins."""
        return softmax(self.proba_scale * self.decision(x))
