"""Names on the wire that the service and its clients share: HTTP headers.

One place, imported by both the light client (httpx only) and the service, which must not import
each other.
"""

LEADER_HEADER = "X-Deconflict-Leader"  # on a standby's 503: the URL the leading node advertises
SIGNATURE_HEADER = "X-Deconflict-Signature"  # "<key id>:<base64 signature>" of a plan or hotline message
