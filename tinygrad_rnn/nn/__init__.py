"""Neural-network building blocks with PyTorch's names: Module, Parameter, containers, layers,
init schemes, gradient utilities and functional ops (nn.functional, import as F)."""
from . import functional, init, utils
from .module import Module, Parameter, Sequential, ModuleList
from .layers import Linear, Embedding, Dropout, LayerNorm, Flatten, Tanh, Sigmoid, ReLU, Identity
from .cells import RNNCell, LSTMCell, GRUCell
from .rnn import RNNBase, RNN, LSTM, GRU
from .custom_cells import LayerNormLSTMCell, PeepholeLSTMCell, MGUCell, IndRNNCell
from .recurrent import Recurrent
