"""Where a GAN scored with binary cross-entropy settles: D outputs 1/2 on every image.

Each BCE term is then -ln(1/2) = ln 2, so D's loss, summed over real and fake, is 2 ln 2 and
G's is ln 2. Plain numbers, so the report can draw them without loading TensorFlow.
"""

import math

D_OUTPUT = 0.5
D_LOSS = 2.0 * math.log(2.0)
G_LOSS = math.log(2.0)
