"""Truck styles and the music genre each one suggests (the Soulvan wallet creator's hints).

Identity owns the catalogue because a wallet is created with a style; music maps each
wallet's style to a genre (`music_styles` keeps the per-wallet choice) and imports it here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TruckStyle:
    name: str
    genre: str
    hint: str


TRUCK_STYLES: dict[str, TruckStyle] = {
    s.name: s
    for s in (
        TruckStyle("chrome", "synthwave", "polished neon synths and gated drums"),
        TruckStyle("matte", "lo-fi", "dusty lo-fi beats, soft and understated"),
        TruckStyle("graffiti", "hip-hop", "boom-bap drums and street samples"),
        TruckStyle("mythic", "orchestral", "epic strings, choirs and war drums"),
        TruckStyle("cyberpunk", "darksynth", "distorted bass, industrial percussion"),
    )
}
