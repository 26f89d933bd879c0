"""Pages of one course's submissions, handed from its fetching threads to the writer.

A bounded queue: fetchers block once `max_pages` pages wait, so a course in memory is at
most that many pages (plus one per fetcher) whatever its size, and the writer upserts
each page as it comes (see CanvasSyncService._write_course). A fetcher's error travels
to the writer, which raises it; a writer that gives a course up closes its stream and
the fetchers stop at their next page.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import chain

from app.services.canvas_errors import CanvasUnavailable

PUT_POLL_S = 0.2
# Every request has its own timeout and retry budget, so a fetcher always finishes; this
# only bounds the writer's wait if one never did.
GET_TIMEOUT_S = 900.0


class _Finished:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None):
        self.error = error


class PageStream:
    def __init__(self, producers: int, max_pages: int):
        self._queue: queue.Queue = queue.Queue(max_pages)
        self._producers = producers
        self._closed = threading.Event()

    def feed(self, pages: Callable[[], Iterable[list[dict]]]) -> None:
        """Run in a fetching thread: put every page of `pages()`, then the end (or the error)."""
        try:
            for page in pages():
                if not self._put(page):
                    return
        except BaseException as exc:  # handed to the writer, which decides
            self._put(_Finished(exc))
        else:
            self._put(_Finished(None))

    def close(self) -> None:
        """The writer is done with this course (finished or given up): fetchers stop."""
        self._closed.set()

    def __iter__(self) -> Iterator[list[dict]]:
        running = self._producers
        try:
            while running:
                try:
                    item = self._queue.get(timeout=GET_TIMEOUT_S)
                except queue.Empty:
                    raise CanvasUnavailable("Canvas stopped sending this course's submissions.") from None
                if isinstance(item, _Finished):
                    running -= 1
                    if item.error is not None:
                        raise item.error
                    continue
                yield item
        finally:
            self.close()

    def _put(self, item) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False


def gathered(pages: Iterable[list], rows: int) -> Iterable[list]:
    """`pages` with the first ones read ahead until `rows` rows (or the end) have come.

    For a writer that must not start its transaction before the data is there (SQLite: one
    writing transaction at a time, taken at the first write): memory grows to `rows` rows,
    then the stream goes on as it came.
    """
    pages = iter(pages)
    ahead: list[list] = []
    count = 0
    for page in pages:
        ahead.append(page)
        count += len(page)
        if count >= rows:
            break
    return chain(ahead, pages)
