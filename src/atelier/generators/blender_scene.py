"""Runs inside Blender (`blender -b --python blender_scene.py -- job.json`), never imported by
the platform: builds a scene from a job's words and renders it with Cycles.

The job file holds data only (prompt, size, samples, seed, format, output paths); nothing in
it is executed. The scene is deterministic for a given job: the prompt's words choose the
shapes (sphere, cube, torus, cone, cylinder, monkey), their material (glass, metal, marble,
matte) and colour, the seed places them. A glTF binary (`gltf`) is imported instead when the
job names one (the 3D backend's turntable preview). Cycles renders on the best device Blender
finds (OptiX, then CUDA, then HIP, else the CPU) with the denoiser the build has (OptiX on
OptiX devices, OpenImageDenoise where compiled in, else none), and writes what it used to
`meta` as JSON.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from typing import Any

SHAPES = {
    "sphere": "sphere",
    "ball": "sphere",
    "orb": "sphere",
    "planet": "sphere",
    "cube": "cube",
    "box": "cube",
    "block": "cube",
    "crate": "cube",
    "torus": "torus",
    "ring": "torus",
    "donut": "torus",
    "cone": "cone",
    "pyramid": "cone",
    "cylinder": "cylinder",
    "pillar": "cylinder",
    "column": "cylinder",
    "vase": "cylinder",
    "monkey": "monkey",
    "suzanne": "monkey",
}
COLOURS = {
    "red": (0.8, 0.05, 0.05),
    "orange": (0.9, 0.35, 0.02),
    "yellow": (0.9, 0.75, 0.05),
    "green": (0.05, 0.6, 0.1),
    "blue": (0.05, 0.15, 0.8),
    "purple": (0.4, 0.05, 0.6),
    "pink": (0.9, 0.4, 0.6),
    "white": (0.9, 0.9, 0.9),
    "black": (0.02, 0.02, 0.02),
    "gold": (1.0, 0.77, 0.34),
    "silver": (0.95, 0.93, 0.88),
    "copper": (0.95, 0.64, 0.54),
}
MATERIALS = {
    "glass": "glass",
    "crystal": "glass",
    "metal": "metal",
    "chrome": "metal",
    "steel": "metal",
    "gold": "metal",
    "silver": "metal",
    "copper": "metal",
    "marble": "marble",
    "stone": "marble",
    "matte": "matte",
    "clay": "matte",
}
COUNTS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "pair": 2}


def singular(word: str) -> str:
    for suffix in ("es", "s"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and (stem in SHAPES or stem in MATERIALS or stem in COLOURS):
            return stem
    return word


def words_of(prompt: str) -> list[str]:
    return [singular("".join(c for c in w.lower() if c.isalpha())) for w in prompt.split()]


def material(kind: str, colour: tuple[float, float, float], name: str) -> Any:
    made = bpy.data.materials.new(name)
    made.use_nodes = True
    shader = made.node_tree.nodes["Principled BSDF"]
    shader.inputs["Base Color"].default_value = (*colour, 1.0)
    if kind == "glass":
        shader.inputs["Transmission"].default_value = 1.0
        shader.inputs["Roughness"].default_value = 0.02
        shader.inputs["IOR"].default_value = 1.45
    elif kind == "metal":
        shader.inputs["Metallic"].default_value = 1.0
        shader.inputs["Roughness"].default_value = 0.15
    elif kind == "marble":
        shader.inputs["Roughness"].default_value = 0.35
        shader.inputs["Specular"].default_value = 0.6
    else:
        shader.inputs["Roughness"].default_value = 0.8
    return made


def add_shape(shape: str, location: tuple[float, float, float], size: float) -> Any:
    ops = bpy.ops.mesh
    if shape == "sphere":
        ops.primitive_uv_sphere_add(radius=size, location=location, segments=48, ring_count=24)
        bpy.ops.object.shade_smooth()
    elif shape == "cube":
        ops.primitive_cube_add(size=size * 1.6, location=location)
    elif shape == "torus":
        ops.primitive_torus_add(location=location, major_radius=size, minor_radius=size * 0.35)
        bpy.ops.object.shade_smooth()
    elif shape == "cone":
        ops.primitive_cone_add(radius1=size, depth=size * 2, location=location)
    elif shape == "cylinder":
        ops.primitive_cylinder_add(radius=size * 0.7, depth=size * 2, location=location)
        bpy.ops.object.shade_smooth()
    else:
        ops.primitive_monkey_add(size=size * 1.6, location=location)
        bpy.ops.object.shade_smooth()
    return bpy.context.active_object


def build_from_words(job: dict[str, Any], rng: random.Random) -> None:
    words = words_of(str(job.get("prompt") or ""))
    shapes = [SHAPES[w] for w in words if w in SHAPES] or [rng.choice(sorted(set(SHAPES.values())))]
    colour = next((COLOURS[w] for w in words if w in COLOURS), None)
    kind = next((MATERIALS[w] for w in words if w in MATERIALS), "matte")
    count = next((COUNTS[w] for w in words if w in COUNTS), len(shapes))
    count = max(1, min(5, count))
    for index in range(count):
        x = (index - (count - 1) / 2) * 2.4
        obj = add_shape(shapes[index % len(shapes)], (x, rng.uniform(-0.5, 0.5), 1.0), 1.0)
        obj.rotation_euler = (0.0, 0.0, rng.uniform(0, math.tau))
        tint = colour or (rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9))
        obj.data.materials.append(material(kind, tint, f"m{index}"))
    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, 0))
    floor = bpy.context.active_object
    floor_kind = "marble" if "marble" in words or "floor" in words else "matte"
    floor.data.materials.append(material(floor_kind, (0.55, 0.55, 0.55), "floor"))


def import_gltf(path: str) -> None:
    import numpy

    if not hasattr(numpy, "bool"):  # Debian's Blender 3.4 importer still says np.bool
        numpy.bool = bool  # type: ignore[attr-defined,assignment,misc,unused-ignore]
    bpy.ops.import_scene.gltf(filepath=path)
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    lowest = min(
        (min((o.matrix_world @ v.co).z for v in o.data.vertices) for o in meshes), default=0
    )
    for obj in meshes:
        obj.location.z -= lowest
    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, 0))
    bpy.context.active_object.data.materials.append(material("matte", (0.6, 0.6, 0.6), "floor"))


def light_and_camera(job: dict[str, Any], rng: random.Random) -> None:
    scene = bpy.context.scene
    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.35, 0.45, 0.6, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.6
    scene.world = world
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", type="SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (math.radians(50), 0, math.radians(rng.uniform(0, 360)))
    scene.collection.objects.link(sun)
    key = bpy.data.objects.new("key", bpy.data.lights.new("key", type="AREA"))
    key.data.energy = 400.0
    key.data.size = 4.0
    key.location = (4.0, -4.0, 6.0)
    key.rotation_euler = (math.radians(40), 0, math.radians(45))
    scene.collection.objects.link(key)
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    angle = math.radians(float(job.get("camera_angle_deg", 0.0)))
    distance = float(job.get("camera_distance", 9.0))
    camera.location = (distance * math.sin(angle), -distance * math.cos(angle), 3.5)
    target = bpy.data.objects.new("target", None)
    target.location = (0, 0, 1.0)
    scene.collection.objects.link(target)
    aim = camera.constraints.new(type="TRACK_TO")
    aim.target = target
    aim.track_axis = "TRACK_NEGATIVE_Z"
    aim.up_axis = "UP_Y"


def choose_device() -> str:
    """The best compute device this Blender and machine have; 'CPU' when there is none."""
    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
    except KeyError:
        return "CPU"
    for device_type in ("OPTIX", "CUDA", "HIP"):
        try:
            prefs.compute_device_type = device_type
            prefs.get_devices()
        except TypeError:
            continue
        gpus = [d for d in prefs.devices if d.type == device_type]
        if gpus:
            for device in prefs.devices:
                device.use = device.type == device_type
            return device_type
    return "CPU"


def configure(job: dict[str, Any]) -> dict[str, Any]:
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    device = choose_device()
    scene.cycles.device = "CPU" if device == "CPU" else "GPU"
    scene.cycles.samples = int(job["samples"])
    scene.cycles.seed = int(job["seed"])
    scene.cycles.use_adaptive_sampling = True
    scene.render.resolution_x = int(job["width"])
    scene.render.resolution_y = int(job["height"])
    scene.render.resolution_percentage = 100
    scene.render.threads_mode = "AUTO"
    offered = {i.identifier for i in scene.cycles.bl_rna.properties["denoiser"].enum_items}
    denoiser = None
    if device == "OPTIX" and "OPTIX" in offered:
        denoiser = "OPTIX"
    elif "OPENIMAGEDENOISE" in offered:
        denoiser = "OPENIMAGEDENOISE"
    scene.cycles.use_denoising = denoiser is not None
    if denoiser is not None:
        scene.cycles.denoiser = denoiser
    settings = scene.render.image_settings
    if job["format"] == "exr":
        settings.file_format = "OPEN_EXR"
        settings.color_depth = "16"
        settings.exr_codec = "ZIP"
        settings.color_mode = "RGBA"
    elif job["format"] == "jpeg":
        settings.file_format = "JPEG"
        settings.color_mode = "RGB"
        settings.quality = 92
    else:
        settings.file_format = "PNG"
        settings.color_mode = "RGB"
        settings.color_depth = "8"
        settings.compression = 15
    scene.render.filepath = str(job["output"])
    scene.render.use_file_extension = False  # exactly the path asked for
    return {"device": device, "denoiser": denoiser, "samples": int(job["samples"])}


def main() -> None:
    with open(sys.argv[sys.argv.index("--") + 1], encoding="utf-8") as handle:
        job = json.load(handle)
    started = time.monotonic()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rng = random.Random(int(job["seed"]))
    if job.get("gltf"):
        import_gltf(str(job["gltf"]))
    else:
        build_from_words(job, rng)
    light_and_camera(job, rng)
    meta = configure(job)
    bpy.ops.render.render(write_still=True)
    meta |= {"seconds": round(time.monotonic() - started, 3), "blender": bpy.app.version_string}
    with open(job["meta"], "w", encoding="utf-8") as handle:
        json.dump(meta, handle)


if __name__ == "__main__":  # in Blender; importing this file elsewhere runs nothing
    import bpy

    main()
