"""Words the generated apps are made of: label texts from a large combinatorial vocabulary.

Everything is drawn with a `random.Random` passed in, so a seed fixes every text on screen.
"""

from __future__ import annotations

import random
import string

VERBS = (
    "Save", "Open", "Apply", "Cancel", "Submit", "Send", "Delete", "Export", "Import", "Refresh", "Sync",
    "Upload", "Download", "Print", "Share", "Archive", "Restore", "Reset", "Continue", "Confirm", "Approve",
    "Reject", "Search", "Filter", "Sort", "Add", "Remove", "Edit", "Rename", "Copy", "Move", "Publish",
    "Preview", "Close", "Retry", "Connect", "Disconnect", "Install", "Update", "Verify", "Schedule",
    "Start", "Stop", "Pause", "Resume", "Run", "Build", "Deploy", "Merge", "Attach", "Invite", "Join",
    "Lock", "Unlock", "Enable", "Disable", "Generate", "Convert", "Compare", "Browse", "Select", "Clear",
)  # fmt: skip
NOUNS = (
    "File", "Report", "Invoice", "Order", "Message", "Draft", "Project", "Folder", "Image", "Profile",
    "Account", "Settings", "Backup", "Contact", "Event", "Task", "Note", "Album", "Playlist", "Ticket",
    "Document", "Template", "Budget", "Receipt", "Customer", "Product", "Shipment", "Payment", "Record",
    "Layer", "Page", "Chart", "Table", "Query", "Server", "Device", "Printer", "Network", "Channel",
    "Calendar", "Meeting", "Survey", "Course", "Lesson", "Recipe", "Route", "Photo", "Video", "Track",
    "Team", "Group", "Role", "Token", "License", "Plugin", "Theme", "Font", "Language", "Region",
)  # fmt: skip
ADJECTIVES = (
    "New", "Recent", "Shared", "Private", "Public", "Default", "Custom", "Advanced", "Basic", "Quick",
    "Full", "Partial", "Daily", "Weekly", "Monthly", "Local", "Remote", "Secure", "Hidden", "Pinned",
    "Archived", "Pending", "Active", "Offline", "Online", "Primary", "Secondary", "Global", "Team",
)  # fmt: skip
FIELDS = (
    "Name", "First name", "Last name", "Email", "Phone", "Username", "Password", "Company", "Address",
    "City", "Postcode", "Country", "Title", "Subject", "Website", "Nickname", "Department", "Job title",
    "Card number", "Expiry", "CVV", "Promo code", "Search", "Keywords", "Tags", "Comment", "Description",
    "Project name", "Folder name", "Server", "Port", "Proxy", "Display name", "Recipient", "Amount",
    "Reference", "Invoice number", "Order ID", "Street", "State", "Birthday", "Account ID", "Alias",
)  # fmt: skip
OPTIONS = (
    "Enable notifications", "Remember me", "Dark mode", "Auto-save", "Send usage data", "Show hints",
    "Start at login", "Check for updates", "Compact view", "Play sounds", "Wi-Fi", "Bluetooth",
    "Location services", "Two-factor authentication", "Email alerts", "Show line numbers", "Word wrap",
    "Spell check", "Sync contacts", "Subscribe to newsletter", "Accept terms", "Keep me signed in",
    "Show hidden files", "Use proxy", "Hardware acceleration", "Night light", "Auto-rotate", "Airplane mode",
    "Highlight current line", "Open links in new tab", "Confirm before delete", "Show preview",
    "Enable cache", "Private browsing", "Block pop-ups", "Auto-correct", "Show status bar", "Autoplay videos",
)  # fmt: skip
#: (label, options) pairs for combo boxes and radio groups.
LABELED_CHOICES = (
    ("Size", ("Small", "Medium", "Large", "Extra large")), ("Priority", ("Low", "Normal", "High", "Urgent")),
    ("Frequency", ("Daily", "Weekly", "Monthly", "Yearly", "Never")),
    ("Language", ("English", "Deutsch", "Français", "Español", "Italiano", "Português")),
    ("Colour", ("Red", "Green", "Blue", "Orange", "Purple", "Black", "White")),
    ("Delivery", ("Standard", "Express", "Overnight", "Pickup")), ("Payment", ("Visa", "Mastercard", "PayPal", "Bank transfer")),
    ("Theme", ("Light", "Dark", "System")), ("Format", ("PDF", "CSV", "Excel", "JSON", "XML", "Plain text")),
    ("Time zone", ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")),
    ("Level", ("Beginner", "Intermediate", "Expert")), ("Method", ("Cash", "Card", "Voucher")),
    ("Orientation", ("Portrait", "Landscape")), ("Duration", ("1 hour", "4 hours", "1 day", "1 week", "1 month")),
    ("Visibility", ("Public", "Friends", "Only me")), ("Cabin", ("Economy", "Premium economy", "Business", "First")),
    ("Day", ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")), ("Compression", ("None", "Zip", "7z", "Tar.gz")),
    ("Units", ("Metric", "Imperial")), ("Order", ("Newest first", "Oldest first", "A to Z", "Z to A")),
)  # fmt: skip
CHOICES = tuple(options for _, options in LABELED_CHOICES)
ITEMS = (
    "Apple", "Banana", "Cherry", "Mango", "Kiwi", "Lemon", "Peach", "Plum", "Grape", "Melon", "Papaya",
    "Fig", "Lime", "Pear", "Apricot", "Coconut", "Guava", "Lychee", "Olive", "Quince",
    "Amsterdam", "Berlin", "Cairo", "Dublin", "Edinburgh", "Florence", "Geneva", "Helsinki", "Istanbul",
    "Jakarta", "Kyoto", "Lisbon", "Madrid", "Nairobi", "Oslo", "Prague", "Quebec", "Rome", "Seoul",
    "Toronto", "Utrecht", "Vienna", "Warsaw", "Xiamen", "York", "Zurich", "Lima", "Perth", "Denver",
    "Mercury", "Venus", "Mars", "Jupiter", "Saturn", "Neptune", "Pluto", "Vega", "Sirius", "Orion",
    "Alder", "Birch", "Cedar", "Elm", "Maple", "Oak", "Pine", "Spruce", "Willow", "Yew", "Hazel",
)  # fmt: skip
FIRST = ("Ada", "Ben", "Chloe", "Dev", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen", "Yusuf", "Zoe")  # fmt: skip
LAST = ("Adams", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
        "Kowalski", "Lopez", "Müller", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber")  # fmt: skip
APP_NAMES = ("Notes", "Mailer", "PhotoBox", "Invoicer", "TaskFlow", "Cloudy", "Shopfront", "Tracker", "Planner",
             "Ledger", "Studio", "Reader", "Atlas", "Pulse", "Harbor", "Beacon", "Quill", "Orbit", "Nimbus", "Forge")  # fmt: skip
WORDS = (
    "the", "a", "system", "will", "update", "your", "data", "after", "each", "change", "please", "review",
    "settings", "before", "continuing", "all", "files", "are", "stored", "locally", "and", "synced", "when",
    "online", "this", "may", "take", "a", "few", "minutes", "you", "can", "change", "it", "later", "in",
    "preferences", "new", "features", "include", "faster", "search", "better", "export", "support", "for",
    "large", "projects", "more", "themes", "we", "recommend", "keeping", "backups", "of", "important", "work",
)  # fmt: skip
TLDS = ("com", "org", "net", "io", "dev", "app")


def title(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return f"{rng.choice(VERBS)} {rng.choice(NOUNS)}"
    if r < 0.7:
        return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    return rng.choice(NOUNS) + ("s" if rng.random() < 0.5 else "")


def action_label(rng: random.Random) -> str:
    return rng.choice(VERBS) if rng.random() < 0.6 else f"{rng.choice(VERBS)} {rng.choice(NOUNS).lower()}"


def sentence(rng: random.Random, lo: int = 6, hi: int = 16) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return (" ".join(words)).capitalize() + "."


def paragraph(rng: random.Random, n: int | None = None) -> str:
    return " ".join(sentence(rng) for _ in range(n or rng.randint(2, 4)))


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}@{rng.choice(ITEMS).lower()}.{rng.choice(TLDS)}".replace(
        "ü", "u"
    )


def code(rng: random.Random, n: int = 5) -> str:
    """A short code like 'K7Q2M' (no 0/O, 1/I confusion)."""
    alphabet = "".join(c for c in string.ascii_uppercase + string.digits if c not in "0O1I")
    return "".join(rng.choice(alphabet) for _ in range(n))


def value_for(field: str, rng: random.Random) -> str:
    """A plausible value to type into a field called ``field``."""
    f = field.lower()
    if "email" in f or "recipient" in f:
        return email(rng)
    if "phone" in f:
        return f"+{rng.randint(1, 49)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if "password" in f:
        return code(rng, 4).lower() + rng.choice("!#$%") + str(rng.randint(10, 99))
    if f in ("name", "display name", "recipient name"):
        return person(rng)
    if "first" in f:
        return rng.choice(FIRST)
    if "last" in f:
        return rng.choice(LAST)
    if "city" in f:
        return rng.choice(ITEMS[20:49])
    if "card" in f:
        return " ".join(str(rng.randint(1000, 9999)) for _ in range(4))
    if "port" in f or "amount" in f or "postcode" in f:
        return str(rng.randint(100, 99999))
    if "website" in f or "server" in f or "proxy" in f:
        return f"{rng.choice(ITEMS).lower()}.{rng.choice(TLDS)}"
    if "code" in f or "id" in f or "number" in f or "reference" in f:
        return code(rng, 6)
    return rng.choice(
        (rng.choice(ITEMS), f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS).lower()}", person(rng))
    )


def distinct(rng: random.Random, pool: tuple[str, ...] | list[str], k: int) -> list[str]:
    """``k`` different entries of ``pool`` (all of it when shorter), in random order."""
    k = min(k, len(pool))
    return rng.sample(list(pool), k)
