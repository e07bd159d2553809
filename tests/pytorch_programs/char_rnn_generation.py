"""pytorch/tutorials intermediate_source/char_rnn_generation_tutorial.py, trimmed.

Generating surnames from a language with a character-level RNN (three Linear layers, Dropout
and LogSoftmax), the loss summed over time steps with `loss += l` and SGD written on p.data,
then sampled greedily with topk under no_grad, as the tutorial; a few names per language are
built in instead of the data/names/*.txt download.
"""
import math
import random
import string
import time
import unicodedata

import torch
import torch.nn as nn

# The tutorial reads data/names/[Language].txt, one name per line.
NAMES = {
    'English': 'Smith\nJones\nTaylor\nBrown\nWilson\nEvans\nThomas\nRoberts',
    'German': 'Müller\nSchmidt\nSchneider\nFischer\nWeber\nBecker\nWagner\nSchäfer',
    'Italian': 'Rossi\nRusso\nFerrari\nEsposito\nBianchi\nRomano\nColombo\nRicci',
    'Japanese': 'Sato\nSuzuki\nTakahashi\nTanaka\nWatanabe\nIto\nYamamoto\nNakamura',
    'Spanish': 'García\nFernández\nGonzález\nRodríguez\nLópez\nMartínez\nSánchez\nPérez',
}

all_letters = string.ascii_letters + " .,;'-"
n_letters = len(all_letters) + 1  # Plus EOS marker


# Turn a Unicode string to plain ASCII
def unicodeToAscii(s):
    return ''.join(
        c for c in unicodedata.normalize('NFD', s)
        if unicodedata.category(c) != 'Mn'
        and c in all_letters
    )


def readLines(text):
    lines = text.strip().split('\n')
    return [unicodeToAscii(line) for line in lines]


# Build the category_lines dictionary, a list of lines per category
category_lines = {}
all_categories = []
for category, text in NAMES.items():
    all_categories.append(category)
    category_lines[category] = readLines(text)

n_categories = len(all_categories)


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, dropout=0.1):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size

        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(dropout)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        output_combined = torch.cat((hidden, output), 1)
        output = self.o2o(output_combined)
        output = self.dropout(output)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def build(dropout=0.1):
    torch.manual_seed(0)
    return RNN(n_letters, 128, n_letters, dropout)


# Random item from a list
def randomChoice(l):
    return l[random.randint(0, len(l) - 1)]


# Get a random category and random line from that category
def randomTrainingPair():
    category = randomChoice(all_categories)
    line = randomChoice(category_lines[category])
    return category, line


# One-hot vector for category
def categoryTensor(category):
    li = all_categories.index(category)
    tensor = torch.zeros(1, n_categories)
    tensor[0][li] = 1
    return tensor


# One-hot matrix of first to last letters (not including EOS) for input
def inputTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li in range(len(line)):
        letter = line[li]
        tensor[li][0][all_letters.find(letter)] = 1
    return tensor


# LongTensor of second letter to end (EOS) for target
def targetTensor(line):
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_letters - 1)  # EOS
    return torch.LongTensor(letter_indexes)


# Make category, input, and target tensors from a random category, line pair
def randomTrainingExample():
    category, line = randomTrainingPair()
    category_tensor = categoryTensor(category)
    input_line_tensor = inputTensor(line)
    target_line_tensor = targetTensor(line)
    return category_tensor, input_line_tensor, target_line_tensor


criterion = nn.NLLLoss()

learning_rate = 0.0005


def train(rnn, category_tensor, input_line_tensor, target_line_tensor):
    target_line_tensor.unsqueeze_(-1)
    hidden = rnn.initHidden()

    rnn.zero_grad()

    loss = 0

    for i in range(input_line_tensor.size(0)):
        output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
        l = criterion(output, target_line_tensor[i])
        loss += l

    loss.backward()

    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)

    return output, loss.item() / input_line_tensor.size(0)


def timeSince(since):
    now = time.time()
    s = now - since
    m = math.floor(s / 60)
    s -= m * 60
    return '%dm %ds' % (m, s)


max_length = 20


# Sample from a category and starting letter
def sample(rnn, category, start_letter='A'):
    with torch.no_grad():  # no need to track history in sampling
        category_tensor = categoryTensor(category)
        input = inputTensor(start_letter)
        hidden = rnn.initHidden()

        output_name = start_letter

        for i in range(max_length):
            output, hidden = rnn(category_tensor, input[0], hidden)
            topv, topi = output.topk(1)
            topi = topi[0][0]
            if topi == n_letters - 1:
                break
            else:
                letter = all_letters[topi]
                output_name += letter
            input = inputTensor(letter)

        return output_name


# Get multiple samples from one category and multiple starting letters
def samples(rnn, category, start_letters='ABC'):
    names = []
    for start_letter in start_letters:
        names.append(sample(rnn, category, start_letter))
        print(names[-1])
    return names


def main(rnn, n_iters=300, print_every=50):
    """Train on n_iters random names, then sample a few. Returns (every iteration's mean loss, the names)."""
    random.seed(0)
    losses = []
    start = time.time()
    for iter in range(1, n_iters + 1):
        output, loss = train(rnn, *randomTrainingExample())
        losses.append(loss)

        if iter % print_every == 0:
            print('%s (%d %d%%) %.4f' % (timeSince(start), iter, iter / n_iters * 100, loss))

    names = []
    for category, letters in (('German', 'GER'), ('Spanish', 'SPA'), ('Japanese', 'JAP')):
        names += samples(rnn, category, letters)
    return losses, names


def make_step(rnn):
    """One training step of train() on a fixed name, for timing."""
    category_tensor, input_line_tensor = categoryTensor('German'), inputTensor('Schneider')
    return lambda: train(rnn, category_tensor, input_line_tensor, targetTensor('Schneider'))[1]


if __name__ == '__main__':
    main(build())
