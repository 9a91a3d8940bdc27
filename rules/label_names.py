"""Label names a ``label_match`` rule can expect from DetectLabels, to warn about likely typos.

Rekognition publishes its label list (about 3,000 English names, ``AmazonRekognitionLabels``);
:data:`KNOWN` holds the common part of it that rules use (objects, animals, people, scenes,
documents), not all of it. So a name is only flagged when it is certainly or very probably wrong:

- it holds characters no Rekognition label has (a Cyrillic o, U+043E, in ``Dog``; an emoji; a tab):
  such a name can never match;
- it is not in :data:`KNOWN` but is one edit away from a name that is (``Dgo`` -> ``Dog``).

Both are warnings (``rules validate`` still succeeds), as Rekognition adds labels over time.
"""

from __future__ import annotations

import difflib
import unicodedata
from functools import lru_cache

#: Characters found in Rekognition label names.
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -&'./(),")

KNOWN: frozenset[str] = frozenset(
    """
    Accessories Adult Aircraft Airplane Airport Alcohol Alligator Amphibian Animal Antelope
    Apartment Building Apparel Apple Aquarium Architecture Arm Art Asphalt Astronaut Automobile
    Baby Backpack Bag Bakery Ball Balloon Banana Bank Barbecue Baseball Basketball Bathroom
    Bathtub Beach Bear Beard Bed Bedroom Bee Beer Belt Bench Beverage Bicycle Big Cat Bike Bird
    Birthday Cake Blackboard Blonde Boar Boat Body Part Book Bookcase Boot Bottle Bowl Box Boy
    Bracelet Brain Bread Bridge Brick Briefcase Broccoli Bucket Bug Building Bunny Bus Butterfly
    Cabinet Cafe Cake Calendar Camel Camera Camping Canine Candle Canyon Cap Car Car Part Card
    Carrot Castle Cat Cattle Cave Cell Phone Chair Cheese Chicken Child Chocolate Church City Cliff
    Clock Closet Clothing Cloud Coast Coat Coffee Coffee Cup Coin Computer Computer Hardware
    Computer Keyboard Concert Construction Cookie Corn Couch Cougar Cow Coyote Crab Creature Crocodile
    Crowd Cup Curtain Cutlery Dance Deer Dental Desert Desk Dessert Diagram Dining Room
    Dining Table Dinosaur Dish Display Document Dog Doll Dolphin Donkey Door Dress Drink Drinking
    Drone Duck Eagle Ear Egg Electronics Elephant Elk Envelope Eyeglasses Eye Face Factory Fast Food
    Female Fence Field Finger Fire Fire Truck Firearm Fireworks Fish Flag Flooring Flower Fog Food
    Football Footwear Forest Fork Fountain Fox Frog Fruit Fungus Furniture Gambling Game Garage Garden
    Gate Gift Giraffe Girl Glass Glasses Glove Goat Golf Grain Grape Graphics Grass Grocery Store
    Guitar Gun Hair Hamburger Hammer Hand Handbag Handwriting Hare Harbor Hat Head Headphones Heart
    Helicopter Helmet Hen Highway Hiking Hill Hog Home Decor Horse Hospital Hot Dog House Human
    Ice Ice Cream Id Cards Identity Document Indoors Insect Interior Design Invertebrate Jacket
    Jeans Jewelry Kangaroo Key Keyboard Kitchen Kitten Knife Label Ladder Lake Lamp Landscape Laptop
    Lawn Leaf Leopard Letter License Plate Light Lighthouse Lion Lip Livestock Living Room Lizard
    Lobster Logo Luggage Lynx Machine Male Mammal Man Map Marine Life Market Mask Meal Meat
    Medication Menu Microphone Milk Mobile Phone Money Monitor Monkey Monument Moon Moose Motor
    Motorbike Motorcycle Mountain Mouse Mouth Mug Museum Mushroom Music Musical Instrument Nail
    Nature Necklace Night Nose Notebook Ocean Office Orange Outdoors Owl Ox Page Painting Palm Tree
    Panda Pants Paper Parking Parrot Party Passport Pasta Path Pedestrian Pen Pencil Penguin People
    Person Pet Phone Photography Piano Pig Pillow Pizza Plant Plate Playground Police Pool Portrait
    Poster Pottery Poultry Primate Produce Publication Puppy Purse Rabbit Raccoon Railway Rain Receipt
    Reptile Restaurant River Road Rock Rocket Rodent Roof Room Rooster Rope Rug Running Sailboat
    Salad Sandal Sandwich Scarf School Scissors Screen Screenshot Sculpture Sea Sea Life Sea Lion
    Seal Selfie Shark Sheep Shelf Ship Shirt Shoe Shop Shorts Sign Signature Sink Skateboard Skiing
    Skin Skirt Sky Skyscraper Sled Smile Smoke Snake Sneaker Snow Soccer Sock Sofa Soup Spider Spoon
    Sport Squirrel Stadium Stairs Statue Steak Street Suit Suitcase Sun Sunglasses Sunset Surfing
    Sushi Swimming Swimwear Symbol T-Shirt Table Tablet Computer Tattoo Taxi Tea Teddy Bear Teeth
    Television Tennis Tent Text Tie Tiger Tire Toddler Toilet Tomato Tool Tortoise Tower Town Toy
    Tractor Traffic Light Train Transportation Tree Truck Turtle Umbrella Underwear Urban Vase
    Vegetable Vehicle Video Gaming Volcano Wall Wallet Watch Water Waterfall Watercraft Weapon Whale
    Wheel Wildlife Window Wine Wolf Woman Wood Wristwatch Yard Zebra Zoo
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# multi-word names (the split above breaks them apart; the single words stay valid too)
KNOWN = KNOWN | frozenset(
    {
        "Apartment Building", "Big Cat", "Birthday Cake", "Body Part", "Car Part", "Cell Phone",
        "Coffee Cup", "Computer Hardware", "Computer Keyboard", "Dining Room", "Dining Table",
        "Fast Food", "Fire Truck", "Grocery Store", "Home Decor", "Hot Dog", "Ice Cream",
        "Id Cards", "Identity Document", "Interior Design", "License Plate", "Living Room",
        "Marine Life", "Mobile Phone", "Musical Instrument", "Palm Tree", "Sea Life", "Sea Lion",
        "Tablet Computer", "Teddy Bear", "Traffic Light", "Video Gaming", "Wine Glass",
        "Coffee Table", "Credit Card", "Water Bottle", "Bow Tie", "Business Card", "Pickup Truck",
        "Police Car", "Soccer Ball", "Sports Car", "Stop Sign", "Swimming Pool",
    }
)


@lru_cache(maxsize=1)
def _folded() -> dict[str, str]:
    return {name.casefold(): name for name in KNOWN}


def check(name: str) -> str | None:
    """Why ``name`` can (probably) never match a DetectLabels label, or None if it looks fine."""
    odd = [c for c in name if c not in _ALLOWED]
    if odd:
        shown = ", ".join(_describe(c) for c in dict.fromkeys(odd))
        return (
            f"label {name!r} contains {shown}; Rekognition label names are plain English "
            "(ASCII letters, digits, spaces), so it can never match"
        )
    folded = _folded()
    if name.casefold() in folded:
        return None
    key = name.casefold()
    allowed = 1 if len(key) < 8 else 2
    close = [k for k in difflib.get_close_matches(key, list(folded), n=5, cutoff=0.6) if _edits(key, k) <= allowed]
    if len(key) >= 3 and close:
        return (
            f"'{name}' is not among the common Rekognition labels imgpipe knows; "
            f"did you mean '{folded[close[0]]}'? (a name DetectLabels never returns never matches)"
        )
    return None


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap two neighbours)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[len(b)]


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    return f"{char!r} ({code} {name})" if name else f"{char!r} ({code})"
