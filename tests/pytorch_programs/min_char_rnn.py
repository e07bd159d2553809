"""Karpathy's min-char-rnn (a vanilla character RNN with Adagrad), written with torch tensor ops.

The weights Wxh, Whh, Why and biases bh, by are plain tensors requiring grad; the forward pass
over a sequence is written by hand on column vectors, the loss is the summed cross-entropy of
each step, autograd gives the gradients, and the clipped Adagrad update is written by hand
with p.data and in-place ops. The text is a slice of the Python documentation that ships with
CPython (pydoc_data) instead of input.txt.
"""
import torch
import torch.nn.functional as F
from pydoc_data.topics import topics

# data I/O
data = topics['assert'] + topics['if'] + topics['while']
chars = sorted(list(set(data)))
data_size, vocab_size = len(data), len(chars)
print('data has %d characters, %d unique.' % (data_size, vocab_size))
char_to_ix = {ch: i for i, ch in enumerate(chars)}
ix_to_char = {i: ch for i, ch in enumerate(chars)}

# hyperparameters
hidden_size = 100  # size of hidden layer of neurons
seq_length = 25  # number of steps to unroll the RNN for
learning_rate = 1e-1


def build():
    """The model parameters, in the order Wxh, Whh, Why, bh, by."""
    torch.manual_seed(0)
    Wxh = (torch.randn(hidden_size, vocab_size) * 0.01).requires_grad_()  # input to hidden
    Whh = (torch.randn(hidden_size, hidden_size) * 0.01).requires_grad_()  # hidden to hidden
    Why = (torch.randn(vocab_size, hidden_size) * 0.01).requires_grad_()  # hidden to output
    bh = torch.zeros(hidden_size, 1, requires_grad=True)  # hidden bias
    by = torch.zeros(vocab_size, 1, requires_grad=True)  # output bias
    return [Wxh, Whh, Why, bh, by]


def lossFun(params, inputs, targets, hprev):
    """inputs, targets are both lists of integers; hprev is an Hx1 tensor of the initial state.

    Returns the loss (a 0-d tensor, to back-propagate) and the last hidden state.
    """
    Wxh, Whh, Why, bh, by = params
    hs = hprev
    loss = 0
    for t in range(len(inputs)):
        xs = torch.zeros(vocab_size, 1)  # encode in 1-of-k representation
        xs[inputs[t]] = 1
        hs = torch.tanh(Wxh @ xs + Whh @ hs + bh)  # hidden state
        ys = Why @ hs + by  # unnormalized log probabilities for next chars
        loss += F.cross_entropy(ys.t(), torch.tensor([targets[t]]), reduction='sum')  # softmax (cross-entropy loss)
    return loss, hs


def sample(params, h, seed_ix, n):
    """Sample a sequence of n integers from the model; h is the memory state, seed_ix the first letter."""
    Wxh, Whh, Why, bh, by = params
    ixes = []
    with torch.no_grad():
        x = torch.zeros(vocab_size, 1)
        x[seed_ix] = 1
        for t in range(n):
            h = torch.tanh(Wxh @ x + Whh @ h + bh)
            y = Why @ h + by
            p = torch.exp(y) / torch.sum(torch.exp(y))
            ix = torch.multinomial(p.view(-1), 1).item()
            x = torch.zeros(vocab_size, 1)
            x[ix] = 1
            ixes.append(ix)
    return ixes


def update(params, mems):
    """Clip the gradients to [-5, 5] (against exploding gradients), then the Adagrad step."""
    for param, mem in zip(params, mems):
        dparam = param.grad
        dparam.clamp_(-5, 5)
        mem += dparam * dparam
        param.data.add_(-learning_rate * dparam / torch.sqrt(mem + 1e-8))  # adagrad update
        dparam.zero_()


def main(params, n_iters=200, sample_every=100):
    """Train for n_iters steps of seq_length characters. Returns (every step's loss, [])."""
    mems = [torch.zeros_like(param) for param in params]  # memory variables for Adagrad
    smooth_loss = -torch.log(torch.tensor(1.0 / vocab_size)).item() * seq_length  # loss at iteration 0
    losses = []
    n, p = 0, 0
    while n < n_iters:
        # prepare inputs (we're sweeping from left to right in steps seq_length long)
        if p + seq_length + 1 >= len(data) or n == 0:
            hprev = torch.zeros(hidden_size, 1)  # reset RNN memory
            p = 0  # go from start of data
        inputs = [char_to_ix[ch] for ch in data[p:p+seq_length]]
        targets = [char_to_ix[ch] for ch in data[p+1:p+seq_length+1]]

        # sample from the model now and then
        if n % sample_every == 0:
            sample_ix = sample(params, hprev, inputs[0], 50)
            txt = ''.join(ix_to_char[ix] for ix in sample_ix)
            print('----\n %s \n----' % (txt, ))

        # forward seq_length characters through the net and fetch gradient
        loss, hprev = lossFun(params, inputs, targets, hprev)
        loss.backward()
        hprev = hprev.detach()
        smooth_loss = smooth_loss * 0.999 + loss.item() * 0.001
        losses.append(loss.item())
        if n % sample_every == 0:
            print('iter %d, loss: %f' % (n, smooth_loss))  # print progress

        # perform parameter update with Adagrad
        update(params, mems)

        p += seq_length  # move data pointer
        n += 1  # iteration counter
    return losses, []


def make_step(params):
    """One training step (forward, backward, update) on the first seq_length characters, for timing."""
    mems = [torch.zeros_like(param) for param in params]
    inputs = [char_to_ix[ch] for ch in data[:seq_length]]
    targets = [char_to_ix[ch] for ch in data[1:seq_length+1]]

    def step():
        loss, _ = lossFun(params, inputs, targets, torch.zeros(hidden_size, 1))
        loss.backward()
        update(params, mems)
        return loss.item()
    return step


if __name__ == '__main__':
    main(build())
