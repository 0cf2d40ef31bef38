# Stand-in for the pkgloader module the original's cc/__init__.py imports
# (it only asks for skytools 3.0). Our code, for the interop harness.
def require(name, version):
    pass
