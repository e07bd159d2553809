"""Neural-network building blocks with PyTorch's names: Module, Parameter, containers, layers,
init schemes, gradient utilities and functional ops (nn.functional, import as F)."""
from . import functional, init, utils
from .module import Module, Parameter, Sequential, ModuleList
from .containers import ModuleDict, ParameterList, ParameterDict
from .layers import (Linear, Embedding, Dropout, LayerNorm, RMSNorm, PReLU, Flatten, Unflatten, Identity, Tanh,
                     Sigmoid, ReLU, LeakyReLU, ELU, SiLU, GELU, Softplus, LogSigmoid, Hardtanh, ReLU6, Softsign,
                     Tanhshrink, Softmax, LogSoftmax, Softmin)
from .function_modules import (SELU, CELU, Mish, Hardsigmoid, Hardswish, Softshrink, Hardshrink, Threshold, GLU,
                               CosineSimilarity, PairwiseDistance, KLDivLoss, PoissonNLLLoss, GaussianNLLLoss,
                               MarginRankingLoss, HingeEmbeddingLoss, CosineEmbeddingLoss, SoftMarginLoss,
                               MultiLabelSoftMarginLoss, TripletMarginLoss, ZeroPad1d, ZeroPad2d, ZeroPad3d,
                               ConstantPad1d, ConstantPad2d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d,
                               ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, CircularPad1d,
                               CircularPad2d, CircularPad3d)
from .losses import (NLLLoss, CrossEntropyLoss, MSELoss, L1Loss, HuberLoss, SmoothL1Loss, BCELoss,
                     BCEWithLogitsLoss)
from .cells import RNNCell, LSTMCell, GRUCell
from .rnn import RNNBase, RNN, LSTM, GRU
from .ctc import CTCLoss
from .attention import Attention, Memory, key_padding_mask
from .multihead_attention import MultiheadAttention
from .batch_norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .conv import Conv1d, MaxPool1d, AvgPool1d, AdaptiveAvgPool1d
from .transformer import (Transformer, TransformerEncoder, TransformerDecoder, TransformerEncoderLayer,
                          TransformerDecoderLayer)
from .seq2seq import Encoder, AttentionDecoder, Seq2Seq
from .decoding import greedy_decode, beam_search
from .esn import EchoStateNetwork
from .custom_cells import LayerNormLSTMCell, PeepholeLSTMCell, MGUCell, IndRNNCell
from .recurrent import Recurrent
