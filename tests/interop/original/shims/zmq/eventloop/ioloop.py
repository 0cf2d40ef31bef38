# Import-time stand-ins (see zmq/eventloop/__init__.py).
class IOLoop(object):
    @classmethod
    def instance(cls):
        return cls()


class PeriodicCallback(object):
    def __init__(self, callback, period_ms, io_loop=None):
        self.callback = callback

    def start(self):
        pass

    def stop(self):
        pass
