"""Progress output: a plain line per interval when the stream is not a terminal, never carriage returns."""

import io

from omnimask.progress import tqdm


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_file_gets_lines_not_redraws():
    log = io.StringIO()
    for _ in tqdm(range(1000), desc="work", file=log):
        pass
    text = log.getvalue()
    assert "\r" not in text
    lines = [line for line in text.splitlines() if line]
    assert 1 <= len(lines) <= 3 and lines[-1].startswith("work: 100%") and "1000/1000" in lines[-1]


def test_messages_between_lines_are_not_preceded_by_carriage_returns():
    log = io.StringIO()
    with tqdm(total=3, desc="train", file=log) as bar:
        for step in range(3):
            bar.set_postfix(loss=1.0 / (step + 1))  # refreshes on every call
            bar.update(1)
            bar.write(f"step {step}", file=log)
    text = log.getvalue()
    assert "\r" not in text and "step 2" in text
    assert sum(line.startswith("train:") for line in text.splitlines()) <= 2  # start and end, not per step


def test_a_terminal_gets_the_usual_bar():
    term = _Terminal()
    for _ in tqdm(range(10), desc="work", file=term, mininterval=0):
        pass
    assert "\r" in term.getvalue()
