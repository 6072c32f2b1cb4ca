import os

# Tests run on the CPU, quietly, whatever accelerators the machine has.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
