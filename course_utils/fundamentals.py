"""The midterm's fundamentals, written out as the lectures' equations (notebook 07).

- ``mlp_forward``, ``mlp_backward``: a two-layer MLP with a ReLU and a softmax
  cross-entropy loss, forward and backward by hand (backpropagation is the chain
  rule, applied layer by layer from the loss back to the inputs):

      z1 = x W1 + b1,  h = relu(z1),  logits = h W2 + b2,  L = 1/N sum_i -log softmax(logits_i)[y_i]
      dlogits = (softmax(logits) - onehot(y)) / N
      dW2 = h^T dlogits,  db2 = sum_i dlogits_i,  dh = dlogits W2^T
      dz1 = dh * 1[z1 > 0],  dW1 = x^T dz1,  db1 = sum_i dz1_i

- ``conv_output_size``: the output size of a convolution or a pooling layer along one axis,

      out = floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1

  (``nn.Conv2d``, ``nn.MaxPool2d``; pooling uses the same equation, its stride defaults to its kernel).
- ``sgd_momentum_step``, ``adam_step``: one update of a parameter, exactly as
  ``torch.optim.SGD(momentum=...)`` and ``torch.optim.Adam`` make it, as pure functions
  of tensors (they return new tensors and leave their inputs alone).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .reference import answers


@answers("07_review", "mlp_forward")
def mlp_forward(x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The forward pass of a two-layer MLP, keeping what the backward pass needs.

    Args:
        x: (N, D) inputs.
        W1: (D, H) and b1: (H,) the hidden layer; W2: (H, C) and b2: (C,) the output layer.
    Returns:
        z1 = x W1 + b1, (N, H), the hidden layer before the ReLU;
        h = relu(z1), (N, H);
        logits = h W2 + b2, (N, C).
    """
    z1 = x @ W1 + b1  # (N, H)
    h = z1.clamp_min(0)  # (N, H): ReLU
    logits = h @ W2 + b2  # (N, C)
    return z1, h, logits


@answers("07_review", "mlp_backward")
def mlp_backward(x: torch.Tensor, y: torch.Tensor, W2: torch.Tensor, z1: torch.Tensor, h: torch.Tensor,
                 logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of the mean cross-entropy L = 1/N sum_i -log softmax(logits_i)[y_i], by hand.

    Args:
        x: (N, D) inputs; y: (N,) int64 class labels in [0, C).
        W2: (H, C) the output layer's weights.
        z1, h, logits: (N, H), (N, H), (N, C), from ``mlp_forward``.
    Returns:
        (dW1, db1, dW2, db2): dL/dW1 (D, H), dL/db1 (H,), dL/dW2 (H, C), dL/db2 (C,).
    """
    n = x.shape[0]
    dlogits = (logits.softmax(dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)) / n  # (N, C)
    dW2 = h.T @ dlogits  # (H, C)
    db2 = dlogits.sum(dim=0)  # (C,)
    dh = dlogits @ W2.T  # (N, H)
    dz1 = dh * (z1 > 0).to(dh.dtype)  # (N, H): the ReLU passes the gradient where it was active
    dW1 = x.T @ dz1  # (D, H)
    db1 = dz1.sum(dim=0)  # (H,)
    return dW1, db1, dW2, db2


@answers("07_review", "conv_output_size")
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The output size, along one axis, of a convolution or a pooling layer.

    A kernel of size k dilated by d spans d (k - 1) + 1 inputs; it fits into the padded input
    (size + 2 padding) at positions 0, stride, 2 stride, ...:

        out = floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1

    Args:
        size: the input's height (or width); kernel, stride, padding, dilation: the layer's settings.
    Returns:
        The output's height (or width), a Python int (as nn.Conv2d and nn.MaxPool2d give,
        ceil_mode=False).
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@answers("07_review", "sgd_momentum_step")
def sgd_momentum_step(param: torch.Tensor, grad: torch.Tensor, velocity: torch.Tensor, lr: float,
                      momentum: float, weight_decay: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of SGD with momentum (and L2 weight decay), as torch.optim.SGD makes it.

        g = grad + weight_decay * param
        velocity = momentum * velocity + g
        param = param - lr * velocity

    Args:
        param, grad, velocity: tensors of one shape; velocity starts at zeros.
        lr: the learning rate; momentum: mu in [0, 1); weight_decay: the L2 coefficient.
    Returns:
        (new param, new velocity), new tensors.
    """
    g = grad + weight_decay * param
    velocity = momentum * velocity + g
    return param - lr * velocity, velocity


@answers("07_review", "adam_step")
def adam_step(param: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int,
              lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Adam (Kingma and Ba, 2015, Algorithm 1), as torch.optim.Adam makes it.

        m = beta1 m + (1 - beta1) g,      v = beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t),        v_hat = v / (1 - beta2^t)
        param = param - lr m_hat / (sqrt(v_hat) + eps)

    Args:
        param, grad, m, v: tensors of one shape; m and v start at zeros.
        step: t, the number of this step, counted from 1.
    Returns:
        (new param, new m, new v), new tensors.
    """
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v


__all__ = ["adam_step", "conv_output_size", "mlp_backward", "mlp_forward", "sgd_momentum_step"]
