# The few parts of skytools the original's daemon and handler modules use:
# getLogger (with the trace level), a Config over one INI section, and the
# DBScript base with the methods the infosender calls. Our code, for the
# interop harness; behaviour as skytools 3 documents it.
import ConfigParser
import logging
import os
import time

TRACE = 5
logging.addLevelName(TRACE, 'TRACE')


def _trace(self, msg, *args, **kwargs):
    if self.isEnabledFor(TRACE):
        self._log(TRACE, msg, args, **kwargs)

logging.Logger.trace = _trace


def getLogger(name=None):
    return logging.getLogger(name)


class Config(object):
    """One section of an INI file, read as skytools.Config reads it: a key
    without a default that is missing is an error; with a default, the
    default is returned as it is."""

    def __init__(self, main_section, filename, defaults=None):
        self.main_section = main_section
        self.filename = filename
        self.cf = ConfigParser.ConfigParser(defaults or {})
        self.cf.read(filename)

    def _raw(self, key, default):
        if self.cf.has_option(self.main_section, key):
            return self.cf.get(self.main_section, key)
        if default is None:
            raise ConfigParser.NoOptionError(key, self.main_section)
        return default

    def get(self, key, default=None):
        return self._raw(key, default)

    def getint(self, key, default=None):
        if not self.cf.has_option(self.main_section, key):
            return self._raw(key, default)
        return int(self._raw(key, default))

    def getfloat(self, key, default=None):
        if not self.cf.has_option(self.main_section, key):
            return self._raw(key, default)
        return float(self._raw(key, default))

    def getbool(self, key, default=None):
        v = self._raw(key, default)
        if isinstance(v, bool) or isinstance(v, int):
            return bool(v)
        return v.strip().lower() in ('1', 'true', 'yes', 'on')

    def getfile(self, key, default=None):
        return os.path.expanduser(self._raw(key, default))

    def getlist(self, key, default=None):
        v = self._raw(key, default)
        return [x.strip() for x in v.split(',') if x.strip()]

    def has_option(self, key):
        return self.cf.has_option(self.main_section, key)


class DBScript(object):
    """The base of the original's CCJob: only what its infosender touches
    once the harness has set it up (no daemonising, no databases)."""

    looping = True

    def reload(self):
        pass

    def startup(self):
        pass

    def sleep(self, secs):
        time.sleep(secs)

    def stat_inc(self, key, increase=1):
        self.stats = getattr(self, 'stats', {})
        self.stats[key] = self.stats.get(key, 0) + increase

    def _boot_daemon(self):
        pass
