"""greedy_decode and beam_search on hand-built decoders whose probabilities are known exactly:
beam width 1 is greedy, beam finds what greedy misses, a wide beam is exhaustive search."""
import itertools

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

END, A, B_, START = 0, 1, 2, 3


def markov_step(table):
    """A decoder whose next-token distribution is table[previous token, last token] (a 2-D table:
    the last token only); its state is the previous token, so a wrongly reordered state shows."""
    log_table = np.log(table if table.ndim == 3 else np.broadcast_to(table, table.shape[:1] + table.shape))

    def step(tokens, state):
        return log_table[state, tokens], tokens.copy()
    return step


# From START: A 0.6, B 0.4. After A the mass is spread (END 0.4); after B, END is 0.9.
TRAP = np.array([[1.0, 0.0, 0.0, 0.0],      # END -> END
                 [0.4, 0.3, 0.3, 0.0],      # A
                 [0.9, 0.05, 0.05, 0.0],    # B
                 [0.0, 0.6, 0.4, 0.0]]) + 1e-300


def test_beam_finds_the_sequence_greedy_misses():
    step = markov_step(TRAP)
    tokens, lengths, score = nn.greedy_decode(step, np.array([START]), [START], END, 5)
    assert tokens[0, :lengths[0] + 1].tolist() == [A, END] and np.isclose(score[0], np.log(0.6 * 0.4))
    tokens, lengths, score = nn.beam_search(step, np.array([START]), [START], END, 5, beam_width=2)
    assert tokens[0, :lengths[0] + 1].tolist() == [B_, END] and np.isclose(score[0], np.log(0.4 * 0.9))


def random_table(rng, V):
    """A second-order chain over END, 1..V-1 and the start token V (never emitted)."""
    table = rng.random((V + 1, V + 1, V + 1)) ** 3
    table[:, :, V] = 0.0
    table[:, END] = 0.0
    table[:, END, END] = 1.0
    return table / table.sum(2, keepdims=True) + 1e-300


def exhaustive_best(table, start, max_length, alpha):
    """The best output over every token sequence of up to max_length tokens, by the same score."""
    best = (-np.inf, None)
    V = table.shape[0] - 1
    for n in range(1, max_length + 1):
        for seq in itertools.product(range(V), repeat=n):
            if END in seq[:-1]:
                continue
            fed = (start,) + seq[:-1]
            logp = np.log(table[(start,) + fed[:-1], fed, seq]).sum()
            score = logp / nn.decoding.length_penalty_factor(n, alpha)
            if seq[-1] != END and n < max_length:
                continue  # an unfinished sequence only counts at max_length
            best = max(best, (score, seq), key=lambda s: s[0])
    return best


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_beam_is_exhaustive_search(alpha):
    rng = np.random.default_rng(0)
    V, L = 3, 4
    for trial in range(5):
        table = random_table(rng, V)
        step = markov_step(table)
        tokens, lengths, score = nn.beam_search(step, np.array([V]), [V], END, L, beam_width=V ** L,
                                                length_penalty=alpha)
        best_score, best_seq = exhaustive_best(table, V, L, alpha)
        n = min(lengths[0] + 1, L)
        assert tuple(tokens[0, :n]) == best_seq and np.isclose(score[0], best_score)


def test_beam_width_one_is_greedy_on_a_batch():
    rng = np.random.default_rng(1)
    V = 5
    table = random_table(rng, V)
    start = np.array([V, 1, 2, 3])
    step = markov_step(table)
    g = nn.greedy_decode(step, start.copy(), start, END, 7)
    b = nn.beam_search(step, start.copy(), start, END, 7, beam_width=1)
    for x, y in zip(g, b):
        np.testing.assert_allclose(x, y)


def test_batched_beam_search_equals_one_sequence_at_a_time():
    rng = np.random.default_rng(2)
    V = 4
    table = random_table(rng, V)
    start = np.array([V, 1, 2])
    step = markov_step(table)
    tokens, lengths, scores = nn.beam_search(step, start.copy(), start, END, 6, beam_width=3, length_penalty=1.0)
    for k in range(3):
        t1, l1, s1 = nn.beam_search(step, start[k:k + 1].copy(), start[k:k + 1], END, 6, beam_width=3,
                                    length_penalty=1.0)
        assert l1[0] == lengths[k] and (t1[0, :l1[0]] == tokens[k, :lengths[k]]).all() and np.isclose(s1[0], scores[k])


def test_outputs_are_padded_with_the_end_token_and_stop_at_max_length():
    step = markov_step(TRAP)
    tokens, lengths, _ = nn.greedy_decode(step, np.array([START, A]), [START, A], END, 3)
    assert tokens.tolist() == [[A, END], [END, END]] and lengths.tolist() == [1, 0]
    never_ends = np.array([[0.0, 0.0, 1.0, 0.0]] * 4) + 1e-300
    tokens, lengths, _ = nn.beam_search(markov_step(never_ends), np.array([START]), [START], END, 3, beam_width=2)
    assert tokens.tolist() == [[B_, B_, B_]] and lengths.tolist() == [3]


def test_select_rows_keeps_the_nesting():
    state = ((tg.tensor([[1.0], [2.0]]), np.array([3, 4])), None)
    picked = nn.decoding.select_rows(state, np.array([1, 1, 0]))
    assert picked[0][0].numpy().ravel().tolist() == [2.0, 2.0, 1.0] and picked[0][1].tolist() == [4, 4, 3]
    assert picked[1] is None


def test_bad_arguments():
    step = markov_step(TRAP)
    with pytest.raises(ValueError, match="beam_width must be an int >= 1, got 0"):
        nn.beam_search(step, np.array([START]), [START], END, 5, beam_width=0)
    with pytest.raises(ValueError, match="max_length must be an int >= 1"):
        nn.greedy_decode(step, np.array([START]), [START], END, 0)
    with pytest.raises(ValueError, match="start_tokens must be a 1-D integer array"):
        nn.greedy_decode(step, np.array([START]), [[START]], END, 5)
    with pytest.raises(ValueError, match="end_token 7 is out of range for a vocabulary of 4"):
        nn.beam_search(step, np.array([START]), [START], 7, 5)
    with pytest.raises(ValueError, match=r"log-probabilities of shape \(1, V\)"):
        nn.greedy_decode(step, np.array([START, START]), [START], END, 5)
    with pytest.raises(ValueError, match="length_penalty must be a number"):
        nn.beam_search(step, np.array([START]), [START], END, 5, length_penalty="gnmt")
