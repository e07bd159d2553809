"""Data for tinygrad_rnn, as NumPy arrays: the built-in text corpus and a character vocabulary,
batching for truncated BPTT, and the classic synthetic sequence tasks."""
from .batching import TBPTTBatcher
from .corpus import BUILTIN_CORPUS, CharVocab, load_text, train_val_split
from .tasks import (ADDING_BASELINE_MSE, adding_problem, copy_memory, copy_memory_baseline,
                    forecasting_windows, hello_example, mackey_glass, noisy_sine, timer_task)

__all__ = ["ADDING_BASELINE_MSE", "BUILTIN_CORPUS", "CharVocab", "TBPTTBatcher", "adding_problem",
           "copy_memory", "copy_memory_baseline", "forecasting_windows", "hello_example",
           "load_text", "mackey_glass", "noisy_sine", "timer_task", "train_val_split"]
