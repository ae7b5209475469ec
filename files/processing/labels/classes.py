"""The 1000 ImageNet classes the classifier tells apart, and the portal categories that group them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# One name per line, in the ILSVRC-2012 order the network was trained on. Names follow
# WordNet's first synonym, made readable where that misleads or is obscure ("pot" is a
# flowerpot, "upright" an upright piano, "beacon" a lighthouse; two "crane"s).
IMAGENET_CLASSES: tuple[str, ...] = tuple(
    Path(__file__).with_name("imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
)
if len(IMAGENET_CLASSES) != 1000:
    raise ImportError(f"imagenet_classes.txt holds {len(IMAGENET_CLASSES)} class names, not 1000")

_CLASS_IDS = {name: index for index, name in enumerate(IMAGENET_CLASSES)}
if len(_CLASS_IDS) != len(IMAGENET_CLASSES):
    raise ImportError("imagenet_classes.txt names a class twice")


def _classes(*members: str | range) -> frozenset[int]:
    """Class ids from names (checked at import, so a typo fails loudly) and id ranges."""
    ids: set[int] = set()
    for member in members:
        ids.update(member if isinstance(member, range) else [_CLASS_IDS[member]])
    return frozenset(ids)


# ImageNet orders classes by WordNet, so related animals sit in contiguous id ranges.
# fmt: off
_DOGS = _classes(range(151, 269))  # Chihuahua .. Mexican hairless
_CATS = _classes(range(281, 286))  # tabby .. Egyptian cat; big cats are only "animal"
_BIRDS = _classes(range(7, 25), range(80, 101), range(127, 147))
_FISH = _classes(range(0, 7), range(389, 398))
_REPTILES = _classes(range(33, 69))  # turtles, lizards, crocodiles, snakes
_INSECTS = _classes(range(300, 327))  # beetles .. butterflies
_CARS = _classes(
    "ambulance", "station wagon", "cab", "car mirror", "car wheel", "convertible", "grille", "jeep", "limousine",
    "minivan", "Model T", "pickup truck", "police van", "race car", "sports car",
)
_BOATS = _classes(
    "aircraft carrier", "canoe", "catamaran", "container ship", "fireboat", "gondola", "lifeboat", "ocean liner",
    "paddle", "paddlewheel", "pirate ship", "schooner", "speedboat", "submarine", "trimaran", "shipwreck", "yawl",
)
_AIRCRAFT = _classes("airliner", "airship", "space shuttle", "warplane", "wing")
_VEGETABLES = _classes(range(936, 947), "corn")  # head cabbage .. cardoon
_FRUIT = _classes(range(948, 958))  # Granny Smith .. pomegranate
# Flower photos mostly come out as a daisy, or as the flowerpot or vase holding them.
_FLOWERS = _classes("flowerpot", "vase", "rapeseed", "daisy", "yellow lady's slipper")

CATEGORIES: dict[str, frozenset[int]] = {
    "animal": _classes(range(0, 398)),  # every class before "abacus" is an animal
    "dog": _DOGS,
    "cat": _CATS,
    "bird": _BIRDS,
    "fish": _FISH,
    "reptile": _REPTILES,
    "amphibian": _classes(range(25, 33)),  # salamanders, newts, frogs
    "insect": _INSECTS,
    "spider": _classes(range(70, 78)),  # arachnids: harvestman .. wolf spider
    "food": _VEGETABLES | _FRUIT | _classes(
        range(923, 936), range(959, 966),  # plate .. mashed potato, carbonara .. burrito
        "mushroom", "frying pan", "wok",
    ),
    "fruit": _FRUIT,
    "vegetable": _VEGETABLES,
    "drink": _classes(
        "beer bottle", "beer glass", "cocktail shaker", "coffee mug", "goblet", "pop bottle", "teapot", "whiskey jug",
        "wine bottle", "red wine", "espresso", "cup", "eggnog",
    ),
    "plant": _FLOWERS | _classes("hay", "corn", "acorn", "rose hip", "buckeye", "ear of corn"),
    "flower": _FLOWERS,
    "fungus": _classes("mushroom", range(991, 998)),  # coral fungus .. bolete
    "vehicle": _CARS | _BOATS | _AIRCRAFT | _classes(
        "amphibious vehicle", "tandem bicycle", "bobsled", "bullet train", "dogsled", "electric locomotive",
        "fire engine", "forklift", "freight car", "garbage truck", "go-kart", "golfcart", "half track", "harvester",
        "horse cart", "rickshaw", "minibus", "mobile home", "moped", "motor scooter", "mountain bike", "moving van",
        "oxcart", "passenger car", "recreational vehicle", "school bus", "snowmobile", "snowplow", "steam locomotive",
        "streetcar", "tank", "thresher", "tow truck", "tractor", "trailer truck", "tricycle", "trolleybus", "unicycle",
    ),
    "car": _CARS,
    "boat": _BOATS,
    "aircraft": _AIRCRAFT,
    "building": _classes(
        "altar", "apiary", "bakery", "barbershop", "barn", "lighthouse", "bell cote", "boathouse", "bookshop",
        "butcher shop", "castle", "church", "cinema", "cliff dwelling", "confectionery", "dome", "greenhouse",
        "grocery store", "library", "lumbermill", "monastery", "mosque", "obelisk", "palace", "patio", "planetarium",
        "prison", "restaurant", "shoe shop", "steel arch bridge", "stupa", "suspension bridge", "thatched roof",
        "tile roof", "tobacco shop", "toyshop", "triumphal arch", "vault", "viaduct", "water tower", "yurt",
    ),
    "landscape": _classes("alp", range(972, 981)),  # cliff .. volcano
    "mountain": _classes("alp", "cliff", "promontory", "valley", "volcano"),
    "beach": _classes("sandbar", "seashore"),
    # ImageNet has no waterfall or river: those come out as fountains, geysers, dams, lakesides.
    "water": _classes(
        "breakwater", "dam", "dock", "fountain", "pier", "coral reef", "geyser", "lakeside", "sandbar", "seashore",
        "scuba diver",
    ),
    "sport": _classes(
        "balance beam", "barbell", "baseball", "basketball", "bobsled", "croquet ball", "dumbbell", "football helmet",
        "golf ball", "horizontal bar", "knee pad", "parallel bars", "ping-pong ball", "hockey puck", "punching bag",
        "racket", "rugby ball", "scoreboard", "ski", "soccer ball", "tennis ball", "volleyball", "ballplayer",
        "scuba diver",
    ),
    "furniture": _classes(
        "barber chair", "bassinet", "bookcase", "chest", "chiffonier", "china cabinet", "cradle", "crib", "desk",
        "dining table", "entertainment center", "filing cabinet", "folding chair", "four-poster", "medicine chest",
        "park bench", "pool table", "rocking chair", "studio couch", "throne", "wardrobe",
    ),
    "electronics": _classes(
        "cash machine", "cassette player", "CD player", "cellular telephone", "computer keyboard", "desktop computer",
        "dial telephone", "hand-held computer", "hard disk", "home theater", "iPod", "joystick", "laptop",
        "loudspeaker", "microphone", "modem", "monitor", "computer mouse", "notebook computer", "oscilloscope",
        "pay-phone", "photocopier", "Polaroid camera", "printer", "projector", "radio", "reflex camera",
        "remote control", "CRT screen", "space bar", "tape player", "television", "typewriter keyboard",
    ),
    "clothing": _classes(
        "abaya", "academic gown", "apron", "bathing cap", "bearskin", "bib", "bikini", "bolo tie", "bonnet", "bow tie",
        "brassiere", "bulletproof vest", "cardigan", "Christmas stocking", "cloak", "clog", "cowboy boot",
        "cowboy hat", "diaper", "feather boa", "fur coat", "gown", "hoopskirt", "jean", "jersey", "kimono",
        "lab coat", "loafer", "tights", "tank suit", "military uniform", "miniskirt", "mitten", "mortarboard",
        "overskirt", "pajama", "poncho", "running shoe", "sandal", "sarong", "shower cap", "ski mask", "sock",
        "sombrero", "stole", "suit", "sweatshirt", "swimming trunks", "trench coat", "vestment", "Windsor tie",
    ),
    "instrument": _classes(
        "accordion", "acoustic guitar", "banjo", "bassoon", "cello", "chime", "cornet", "drum", "drumstick",
        "electric guitar", "flute", "French horn", "gong", "grand piano", "harmonica", "harp", "maraca", "marimba",
        "oboe", "ocarina", "organ", "panpipe", "plectrum", "saxophone", "steel drum", "trombone", "upright piano",
        "violin",
    ),
    "tool": _classes(
        "wheelbarrow", "broom", "carpenter's kit", "chain saw", "corkscrew", "hammer", "hatchet", "lawn mower", "nail",
        "hand plane", "plunger", "power drill", "ruler", "screw", "screwdriver", "shovel",
    ),
    "weapon": _classes("assault rifle", "cannon", "missile", "projectile", "revolver", "rifle"),
    # Scans, pages and screenshots land on these: the network has no class for text.
    "document": _classes("ring binder", "envelope", "web site", "comic book", "crossword puzzle", "book jacket", "menu"),
    "screenshot": _classes("web site"),
}
# fmt: on


def _category_matrix() -> np.ndarray:
    """Category × class 0/1 matrix, so all category scores are one matrix product."""
    matrix = np.zeros((len(CATEGORIES), len(IMAGENET_CLASSES)), dtype=np.float32)
    for row, members in enumerate(CATEGORIES.values()):
        matrix[row, sorted(members)] = 1.0
    return matrix


CATEGORY_MATRIX = _category_matrix()
