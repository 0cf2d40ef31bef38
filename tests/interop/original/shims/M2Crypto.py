# Stand-in for M2Crypto, which the original's cc/crypto.py imports at load
# time. The harness runs without signing or encryption (no cms-* keys), so
# none of it is ever called. Our code, for the interop harness.
class _Unused(object):
    def __getattr__(self, name):
        raise NotImplementedError('M2Crypto is not available in the interop harness')

SMIME = BIO = X509 = m2 = Err = _Unused()
