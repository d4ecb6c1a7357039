"""How a transport refuses an attachment: the errors a send of media may end with.

What a media type is and what bytes are (``Media``, ``sniff``) are rules of their own, in
``webapp.core.media_types``.
"""

from __future__ import annotations

from workers.queue.contracts import RpcCode
from workers.session_host.transports.base import SendFailed, TransportError


class MediaRejected(SendFailed):
    """WhatsApp would not take the attachment (not what its type says, too large): that message
    fails, the number goes on."""

    code = RpcCode.MEDIA_REJECTED


class MediaMissing(TransportError):
    """The attachment's bytes were not in Redis (expired, or Redis lost them): nothing went out."""

    code = RpcCode.MEDIA_MISSING
