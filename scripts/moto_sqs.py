"""SQS ReceiveMessage long polls that wait beside the emulator's serialized
calls, not inside them.

A long poll (WaitTimeSeconds up to 20) waits inside moto's receive_message;
under the emulator's one lock it would stall every other call for that
long, and outside it moto's receive reads the queue's message lists and
sets while serialized calls change them (`RuntimeError: Set changed size
during iteration`). So each receive is polled: one immediate receive (moto's
WaitTimeSeconds 0) under the lock, then, while it finds nothing and the wait
has time left, a wait outside the lock for a message to arrive (moto
notifies the queue's condition on every send) or a short interval (for
messages that become visible again), and another immediate receive.
"""

import threading
import time

from moto.sqs.models import SQSBackend

# The longest wait between two receives of a long poll: messages whose
# visibility timeout ends are not notified.
POLL_SECONDS = 0.2


class SerialLock:
    """One request at a time into moto. Re-entrant (moto receives from a
    queue inside a send, for its Lambda event source mappings), and it knows
    whether the current thread holds it."""

    def __init__(self):
        self._lock = threading.RLock()
        self._local = threading.local()

    def __enter__(self):
        self._lock.acquire()
        self._local.depth = getattr(self._local, "depth", 0) + 1
        return self

    def __exit__(self, *exc):
        self._local.depth -= 1
        self._lock.release()

    def held(self):
        return getattr(self._local, "depth", 0) > 0


def polled_receives(original, lock):
    """`original` (moto's receive_message), each try of it under `lock`."""

    def receive_message(
        self,
        queue_name,
        count,
        wait_seconds_timeout,
        visibility_timeout,
        message_attribute_names=None,
    ):
        if lock.held():
            # Already serialized (a receive inside another call): nothing
            # else can change the queue meanwhile.
            return original(
                self,
                queue_name,
                count,
                wait_seconds_timeout,
                visibility_timeout,
                message_attribute_names,
            )
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with lock:
                queue = self.get_queue(queue_name)
                messages = original(
                    self, queue_name, count, 0, visibility_timeout, message_attribute_names
                )
            left = deadline - time.monotonic()
            if messages or left <= 0:
                return messages
            arrived = getattr(queue, "_messages_lock", None)
            if arrived is None:
                time.sleep(min(POLL_SECONDS, left))
            else:
                with arrived:
                    arrived.wait(min(POLL_SECONDS, left))

    return receive_message


def install(lock):
    """Puts the polled receive in place of moto's, serialized by `lock`."""
    SQSBackend.receive_message = polled_receives(SQSBackend.receive_message, lock)
