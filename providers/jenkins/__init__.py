"""The jenkins provider: clusters created by a team's own installer behind Jenkins jobs."""

from providers.jenkins.adapter import JenkinsProvider
from providers.jenkins.settings import JenkinsSettings, ParameterNames

__all__ = ["JenkinsProvider", "JenkinsSettings", "ParameterNames"]
