"""Pages handed from fetching threads to the writer (app/services/page_stream.py)."""
from app.services.page_stream import gathered


def test_gathered_reads_ahead_until_enough_rows_then_streams_the_rest():
    pulled = []

    def pages():
        for i in range(6):
            pulled.append(i)
            yield [i] * 10

    stream = gathered(pages(), 25)
    assert pulled == [0, 1, 2]  # 30 rows read ahead: at least 25
    assert list(stream) == [[i] * 10 for i in range(6)]
    assert pulled == list(range(6))
    assert list(gathered(iter([]), 25)) == []
    assert list(gathered([[1], [2]], 100)) == [[1], [2]]  # fewer rows than asked: all of them
