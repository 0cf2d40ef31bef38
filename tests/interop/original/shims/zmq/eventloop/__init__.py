# The tornado-style event loop of pyzmq, as far as the original CC imports
# it at module level. The harness calls the original's handler code directly,
# so none of these run. Our code, for the interop harness.
from zmq.eventloop.ioloop import IOLoop
