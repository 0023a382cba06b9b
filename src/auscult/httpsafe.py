"""Opening download URLs: a redirect may not leave HTTPS.

urllib follows an ``https://`` URL's redirect to ``http://`` silently, so a file asked for
over TLS could arrive in the clear from anyone on the path. :func:`urlopen` refuses such a
redirect with :class:`InsecureRedirectError` naming both URLs. Standard library only: the
weights module imports it on machines without the audio stack.
"""

from __future__ import annotations

import urllib.parse
import urllib.request

__all__ = ["InsecureRedirectError", "urlopen"]


class InsecureRedirectError(ValueError):
    """An ``https`` URL redirected to a URL that is not ``https``."""


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = urllib.parse.urljoin(req.full_url, newurl)
        if urllib.parse.urlparse(req.full_url).scheme == "https" and urllib.parse.urlparse(new).scheme != "https":
            raise InsecureRedirectError(f"{req.full_url}: HTTP {code} redirect to {new} refused "
                                        "(https may not be downgraded)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_NoDowngrade)


def urlopen(request: urllib.request.Request | str, *, timeout: float):
    """``urllib.request.urlopen`` that refuses an https -> http (or other scheme) redirect."""
    return _OPENER.open(request, timeout=timeout)
