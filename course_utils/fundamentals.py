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

They are the answers of notebook 07, written once in ``course_utils/answers/a07_review.py``.
"""
from __future__ import annotations

from .answers.a07_review import (  # noqa: F401  (the answers to notebook 07)
    adam_step,
    conv_output_size,
    mlp_backward,
    mlp_forward,
    sgd_momentum_step,
)

__all__ = ["adam_step", "conv_output_size", "mlp_backward", "mlp_forward", "sgd_momentum_step"]
