"""pytorch/tutorials intermediate_source/char_rnn_classification_tutorial.py, trimmed.

Classifying surnames by language with a character-level RNN built from three Linear layers
and a LogSoftmax, trained one name at a time with NLLLoss and SGD written on p.data, as the
tutorial; a few names per language are built in instead of the data/names/*.txt download.
"""
import math
import random
import string
import time
import unicodedata

import torch
import torch.nn as nn
import torch.nn.functional as F

# The tutorial reads data/names/[Language].txt, one name per line.
NAMES = {
    'English': 'Smith\nJones\nTaylor\nBrown\nWilson\nEvans\nThomas\nRoberts',
    'German': 'Müller\nSchmidt\nSchneider\nFischer\nWeber\nBecker\nWagner\nSchäfer',
    'Italian': 'Rossi\nRusso\nFerrari\nEsposito\nBianchi\nRomano\nColombo\nRicci',
    'Japanese': 'Sato\nSuzuki\nTakahashi\nTanaka\nWatanabe\nIto\nYamamoto\nNakamura',
    'Spanish': 'García\nFernández\nGonzález\nRodríguez\nLópez\nMartínez\nSánchez\nPérez',
}

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)


# Turn a Unicode string to plain ASCII
def unicodeToAscii(s):
    return ''.join(
        c for c in unicodedata.normalize('NFD', s)
        if unicodedata.category(c) != 'Mn'
        and c in all_letters
    )


# Build the category_lines dictionary, a list of names per language
category_lines = {}
all_categories = []


def readLines(text):
    lines = text.strip().split('\n')
    return [unicodeToAscii(line) for line in lines]


for category, text in NAMES.items():
    all_categories.append(category)
    category_lines[category] = readLines(text)

n_categories = len(all_categories)


# Find letter index from all_letters, e.g. "a" = 0
def letterToIndex(letter):
    return all_letters.find(letter)


# Just for demonstration, turn a letter into a <1 x n_letters> Tensor
def letterToTensor(letter):
    tensor = torch.zeros(1, n_letters)
    tensor[0][letterToIndex(letter)] = 1
    return tensor


# Turn a line into a <line_length x 1 x n_letters>,
# or an array of one-hot letter vectors
def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()

        self.hidden_size = hidden_size

        self.i2h = nn.Linear(input_size, hidden_size)
        self.h2h = nn.Linear(hidden_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        hidden = F.tanh(self.i2h(input) + self.h2h(hidden))
        output = self.h2o(hidden)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def build(n_hidden=128):
    torch.manual_seed(0)
    return RNN(n_letters, n_hidden, n_categories)


def categoryFromOutput(output):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


def randomChoice(l):
    return l[random.randint(0, len(l) - 1)]


def randomTrainingExample():
    category = randomChoice(all_categories)
    line = randomChoice(category_lines[category])
    category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
    line_tensor = lineToTensor(line)
    return category, line, category_tensor, line_tensor


criterion = nn.NLLLoss()
learning_rate = 0.005  # If you set this too high, it might explode. If too low, it might not learn


def train(rnn, category_tensor, line_tensor):
    hidden = rnn.initHidden()

    rnn.zero_grad()

    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)

    loss = criterion(output, category_tensor)
    loss.backward()

    # Add parameters' gradients to their values, multiplied by learning rate
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)

    return output, loss.item()


def timeSince(since):
    now = time.time()
    s = now - since
    m = math.floor(s / 60)
    s -= m * 60
    return '%dm %ds' % (m, s)


# Just return an output given a line
def evaluate(rnn, line_tensor):
    hidden = rnn.initHidden()

    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)

    return output


def predict(rnn, input_line, n_predictions=3):
    print('\n> %s' % input_line)
    with torch.no_grad():
        output = evaluate(rnn, lineToTensor(input_line))

        # Get top N categories
        topv, topi = output.topk(n_predictions, 1, True)
        predictions = []

        for i in range(n_predictions):
            value = topv[0][i].item()
            category_index = topi[0][i].item()
            print('(%.2f) %s' % (value, all_categories[category_index]))
            predictions.append([value, all_categories[category_index]])
    return predictions


def main(rnn, n_iters=300, print_every=50, n_confusion=50):
    """Train on n_iters random names, then the confusion matrix and a few predictions.

    Returns (every iteration's loss, [the confusion matrix's mean diagonal, then the log-likelihood of
    each prediction made at the end]).
    """
    random.seed(0)
    losses = []
    start = time.time()
    for iter in range(1, n_iters + 1):
        category, line, category_tensor, line_tensor = randomTrainingExample()
        output, loss = train(rnn, category_tensor, line_tensor)
        losses.append(loss)

        # Print ``iter`` number, loss, name and guess
        if iter % print_every == 0:
            guess, guess_i = categoryFromOutput(output)
            correct = '✓' if guess == category else '✗ (%s)' % category
            print('%d %d%% (%s) %.4f %s / %s %s' % (iter, iter / n_iters * 100, timeSince(start), loss,
                                                    line, guess, correct))

    # Keep track of correct guesses in a confusion matrix
    confusion = torch.zeros(n_categories, n_categories)
    for i in range(n_confusion):
        category, line, category_tensor, line_tensor = randomTrainingExample()
        output = evaluate(rnn, line_tensor)
        guess, guess_i = categoryFromOutput(output)
        category_i = all_categories.index(category)
        confusion[category_i][guess_i] += 1

    # Normalize by dividing every row by its sum
    for i in range(n_categories):
        confusion[i] = confusion[i] / confusion[i].sum()
    accuracy = sum(confusion[i][i].item() for i in range(n_categories)) / n_categories
    print('mean of the diagonal: %.2f' % accuracy)

    predicted = [accuracy]
    for name in ('Dovesky', 'Jackson', 'Satoshi'):
        predicted += [value for value, category in predict(rnn, name)]
    return losses, predicted


def make_step(rnn):
    """One training step of train() on a fixed name, for timing."""
    category_tensor = torch.tensor([all_categories.index('German')], dtype=torch.long)
    line_tensor = lineToTensor('Schneider')
    return lambda: train(rnn, category_tensor, line_tensor)[1]


if __name__ == '__main__':
    main(build())
