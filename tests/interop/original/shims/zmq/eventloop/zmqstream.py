# Import-time stand-in (see zmq/eventloop/__init__.py).
class ZMQStream(object):
    def __init__(self, socket, io_loop=None):
        self.socket = socket
