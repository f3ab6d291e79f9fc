"""The project commands' exceptions.

ProjectError         a project, a flag or the machine cannot do what was asked; the message
│                    says what was wrong and what to do
├── BuildError       a deployment package could not be built (dependencies, limits)
├── ImageError       no container engine, or the engine failed
└── DeployError      AWS refused or could not be reached (credentials, role, limits)
"""

from __future__ import annotations


class ProjectError(Exception):
    """Base of the project commands' errors."""


class BuildError(ProjectError):
    """A deployment package could not be built."""


class ImageError(ProjectError):
    """A container image could not be built or run."""


class DeployError(ProjectError):
    """A deployment to AWS Lambda failed."""
