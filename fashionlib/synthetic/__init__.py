"""A small synthetic dataset in the exact DeepFashion *Category and Attribute Prediction* format.

The real benchmark sits behind a password, so every notebook, test and
benchmark of the ``sample`` profile runs on this stand-in instead. It is written
with the same files, columns and padding as the real one::

    root/Anno/list_category_cloth.txt   the real 50 categories (4 of them with no images)
    root/Anno/list_category_img.txt     one category label per image
    root/Anno/list_bbox.txt             one garment box per image: x_1 y_1 x_2 y_2 (x_2 - x_1 = width)
    root/Anno/list_attr_cloth.txt       58 real-sounding attributes of the 5 types
    root/Anno/list_attr_img.txt         1 / -1 per attribute and image
    root/Anno/list_landmarks.txt        6 / 4 / 8 landmarks for upper / lower / full-body garments
    root/Eval/list_eval_partition.txt   train / val / test (about 72 / 14 / 14 %)
    root/img/<Item_Folder>/img_00000001.jpg ...

Each image shows one garment of 15 drawn categories (Tee, Tank, Sweater, Hoodie,
Top, Blazer, Jeans, Joggers, Shorts, Cutoffs, Skirt, Dress, Jumpsuit, Romper,
Coat) on a mannequin or laid flat, with a texture tied to its attributes
(stripes, dots, plaid, floral, denim, knit, ...), in front of a plain, room-like
or cluttered background, at small, medium and large scale. The box is the tight
box of the garment's visible pixels; landmarks sit on its collar, sleeves,
waist and hem. Folders are products: the images of one folder show the same
garment in different poses, places and sizes.

Generation is deterministic: each image draws from its own random generator
seeded by ``(seed, index)``, so the same ``(n_images, seed)`` gives
byte-identical files whatever the number of worker processes.

The package is split by stage: ``plan`` (vocabulary and the plan of every image), ``shapes`` (the
figure's and garments' geometry), ``render`` (drawing one image), ``dataset`` (writing the tree) and
``cli`` (``fashionlib sample-data``). Everything public is re-exported here.
"""

from fashionlib.synthetic.cli import add_commands
from fashionlib.synthetic.dataset import (
    CLOTH_WIDTH,
    GENERATOR_VERSION,
    MARKER,
    NAME_WIDTH,
    SampleExistsError,
    ensure_sample,
    generate_sample,
    read_marker,
)
from fashionlib.synthetic.plan import (
    ATTRIBUTES,
    CATEGORIES,
    DRAWN_CATEGORIES,
    LANDMARK_NAMES,
    MEDIUM_AREA,
    SIZE_MIX,
    SMALL_AREA,
    SPLIT_FRACTIONS,
    ImageSpec,
    plan_sample,
    size_class,
)
from fashionlib.synthetic.render import HAIR, SKIN, RenderedImage, render_image
from fashionlib.synthetic.shapes import SLEEVE_LEN, Point, Pose, Shape, body_shape, garment_shape

__all__ = [
    "ATTRIBUTES",
    "CATEGORIES",
    "CLOTH_WIDTH",
    "DRAWN_CATEGORIES",
    "GENERATOR_VERSION",
    "HAIR",
    "LANDMARK_NAMES",
    "MARKER",
    "MEDIUM_AREA",
    "NAME_WIDTH",
    "SIZE_MIX",
    "SKIN",
    "SLEEVE_LEN",
    "SMALL_AREA",
    "SPLIT_FRACTIONS",
    "ImageSpec",
    "Point",
    "Pose",
    "RenderedImage",
    "SampleExistsError",
    "Shape",
    "add_commands",
    "body_shape",
    "ensure_sample",
    "garment_shape",
    "generate_sample",
    "plan_sample",
    "read_marker",
    "render_image",
    "size_class",
]
