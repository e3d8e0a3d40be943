"""The camera node (Mmoment): an edge camera, its biometric vault and its Solana middleware,
three services that talk over HTTP and import no platform domain code."""

from atelier.core.modules import Command, Module

MODULE = Module(name="camera", commands=(Command("camera", "atelier.camera.cli:camera"),))
