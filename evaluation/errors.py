"""What can go wrong with a bag, as exceptions that name the problem.

Every bag-reading entry point (``open_bag``, replay, ``dataset from-bag``)
raises only :class:`BagError` subclasses for a bad input, with a message that
says which file, what is wrong and, where there is one, what to do about it.
The CLI prints the message and exits with status 2; no traceback reaches a user.
"""

from __future__ import annotations


class BagError(Exception):
    """A bag that cannot be used; the message names the file and the problem."""


class BagNotFoundError(BagError):
    """The path does not exist, or a directory holds no bag storage file."""


class ForeignBagError(BagError):
    """The path exists but is not a rosbag2 bag we can read (another format, a
    ROS 1 bag, an MCAP without the ``ros2`` profile, a non-CDR encoding)."""


class BagTruncatedError(BagError):
    """The storage file ends early (a recorder that crashed or a partial copy)."""


class BagCorruptedError(BagError):
    """Bytes in the bag are damaged: bad metadata, a broken index, a message that
    does not deserialize."""


class UnknownMessageTypeError(BagError):
    """A topic's message type is neither in our typestore nor defined in the bag."""


class RunContentError(BagError):
    """The bag is readable but lacks what an evaluation needs (topics, run info)."""
