"""A loopback emulator of the Jenkins remote access API (what python-jenkins and the jenkins provider use)."""

from tests.emulators.jenkins.server import Build, Fault, JenkinsEmulator, QueueItem

__all__ = ["Build", "Fault", "JenkinsEmulator", "QueueItem"]
