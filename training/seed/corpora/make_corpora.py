#!/usr/bin/env python3
"""Generate the two sample corpora that llmschool ships (written by the project, CC0).

    python training/seed/corpora/make_corpora.py          # rewrites the .txt files next to this script

Both corpora are built from hand-written templates and word lists with a fixed random seed, so
the output is reproducible and contains no third-party text. Each has a strong, regular style
(a fixed entry layout, recurring phrases, a verse at the end of every entry), so a short
fine-tune visibly shifts a model's samples toward it:

- ja-haiku-diary.txt: one year (2024) of short Japanese diary entries (plain diary style), each ending
  with a 5-7-5 haiku under 「今日の一句」. Seasonal words follow the month of the entry.
- en-pirate-log.txt: the ship's log of the "Salt Magpie", written in a pirate voice, each day
  ending with a shanty couplet.

Entries are separated by a blank line. Every non-blank line is built to be unique (dates and day
numbers in headers, body sentences joined into one line), and the script reports the share of
duplicate lines so a change to the word lists cannot quietly make the corpora repetitive.
"""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20241127
MAX_BYTES = 150 * 1024

# --------------------------------------------------------------------------------------------
# Japanese: haiku diary (俳句日記)
# --------------------------------------------------------------------------------------------

WEEKDAYS = "月火水木金土日"

SEASON_OF_MONTH = {
    3: "spring", 4: "spring", 5: "spring",
    6: "summer", 7: "summer", 8: "summer",
    9: "autumn", 10: "autumn", 11: "autumn",
    12: "winter", 1: "winter", 2: "winter",
}

WEATHER = {
    "spring": ["晴れ", "くもり", "小雨", "花曇り", "風強し", "快晴", "晴れのちくもり"],
    "summer": ["晴れ", "くもり", "雨", "蒸し暑い", "夕立", "快晴", "くもりのち晴れ"],
    "autumn": ["晴れ", "くもり", "小雨", "秋晴れ", "風強し", "快晴", "雨のち晴れ"],
    "winter": ["晴れ", "くもり", "雪", "みぞれ", "冷え込む", "快晴", "くもりのち雪"],
}

TIMES = ["朝", "早朝", "昼前", "昼休み", "夕方", "夜", "寝る前", "午後"]

PLACES = [
    "駅までの道", "近所の公園", "商店街の裏", "川沿いの土手", "図書館の前", "バス停", "職場の屋上",
    "祖母の家の庭", "坂の上の神社", "線路わきの小道", "港の近く", "学校の裏門", "駅前の広場", "田んぼ道",
]

OBSERVATIONS = {
    "spring": [
        "梅の香りがした", "桜のつぼみがふくらんでいた", "菜の花が風に揺れていた", "ツバメを見かけた",
        "風がまだ少し冷たかった", "新しい制服の子どもたちとすれ違った", "つくしが顔を出していた",
        "花びらが一枚、肩に乗った", "うぐいすの声を聞いた", "土のにおいが濃くなっていた",
        "蝶が二匹、追いかけっこをしていた", "若葉がやわらかく光っていた",
    ],
    "summer": [
        "蝉が鳴きはじめていた", "アスファルトから熱気が立ちのぼっていた", "あじさいが色づいていた",
        "風鈴の音がした", "入道雲がむくむく育っていた", "夕立のにおいがした",
        "子どもたちが水遊びをしていた", "ひまわりが背伸びをしていた", "朝顔が咲いていた",
        "日傘の人が増えていた", "露草が咲いていた", "カエルの声がにぎやかだった",
    ],
    "autumn": [
        "金木犀の香りがした", "虫の声がにぎやかだった", "空が高く澄んでいた", "柿が色づいていた",
        "落ち葉が足もとで鳴った", "いわし雲が広がっていた", "彼岸花が咲いていた",
        "紅葉が始まっていた", "栗のいがが落ちていた", "すすきが揺れていた",
        "赤とんぼが飛んでいた", "どんぐりを三つ拾った",
    ],
    "winter": [
        "吐く息が白かった", "霜柱を踏んだ", "木枯らしが吹いていた", "水たまりに氷が張っていた",
        "焼きいもの車が通った", "山の上がうっすら白くなっていた", "空気が澄んで遠くの山まで見えた",
        "猫が日なたに丸くなっていた", "雪がちらついていた", "つららが朝日に光っていた",
        "日陰の道が凍っていた", "北風に背中を押された",
    ],
}

DISHES = {
    "spring": ["たけのこご飯", "菜の花のおひたし", "春キャベツの炒め物", "あさりの味噌汁", "新じゃがの煮っころがし"],
    "summer": ["冷やし中華", "そうめん", "冷ややっこ", "ゴーヤチャンプルー", "夏野菜のカレー"],
    "autumn": ["さんまの塩焼き", "栗ご飯", "きのこの味噌汁", "かぼちゃの煮物", "里いもの煮物"],
    "winter": ["おでん", "湯豆腐", "鍋焼きうどん", "豚汁", "ぶり大根"],
}
SNACKS = {
    "spring": ["いちご", "桜もち", "草もち"],
    "summer": ["すいか", "かき氷", "とうもろこし"],
    "autumn": ["焼きいも", "梨", "月見だんご"],
    "winter": ["みかん", "たい焼き", "おしるこ"],
}
MEALS = ["昼は", "夜は", "夕飯に", "久しぶりに"]
MEAL_VERBS = ["を食べた", "を作った", "をいただいた", "をこしらえた"]
SNACK_VERBS = ["を食べた", "を買って帰った", "をいただいた", "をつまんだ"]

PEOPLE = ["母", "妹", "古い友人", "叔父", "隣の奥さん", "同僚のSさん", "大家さん", "兄", "小学校の恩師"]
PARCELS = ["手紙", "小包", "絵はがき", "野菜", "写真", "お菓子", "本", "電話"]
COMPANIONS = [
    "と長電話をした", "とお茶を飲んだ", "と少しだけ散歩した", "と駅前で偶然会った", "に借りていた本を返した",
    "の引っ越しを手伝った",
]

ACTIVITIES = [
    "久しぶりに古本屋をのぞいた", "万年筆で手紙を書いた", "部屋の模様替えをした", "押し入れを片づけた",
    "遠回りして帰った", "ラジオを聞きながら洗濯物をたたんだ", "鉢植えに水をやった", "自転車のタイヤに空気を入れた",
    "図書館で俳句の本を借りた", "台所の棚を拭いた", "ノートに一週間の予定を書き出した", "靴を磨いた",
    "昔のアルバムをめくった", "散髪に行った", "パンを焼いてみた", "押し花をしおりにした",
    "駅前の銭湯に行った", "窓ガラスを磨いた", "眼鏡を新しくした", "近所の猫に名前をつけた",
]

FEELINGS = [
    "なんとなく得をした気分になった", "少し眠い一日だった", "明日はもう少し早く起きたい",
    "季節が進むのは早い", "何でもない一日が、いちばんありがたい", "少し疲れたが、悪くない疲れだ",
    "心がすこし軽くなった", "早めに布団に入ることにする", "こういう日は日記が短くなる",
    "ひとりで小さく笑ってしまった", "空を見上げる回数が増えた気がする", "今日は句がすぐにできた",
    "句をひねるのに時間がかかった", "明日も晴れるといい", "あたたかいお茶がおいしかった",
]

# Haiku parts: 5 morae (seasonal opening), 7 morae (scene), 5 morae (closing image).
KAMI = {
    "spring": [
        "梅が香や", "春の風", "花冷えや", "菜の花や", "春の雨", "桜散る", "春の宵", "陽炎や",
        "花曇り", "雪解けや", "春の月", "若草や", "風光る", "山笑う", "春寒し", "ふきのとう",
    ],
    "summer": [
        "夕立や", "蝉しぐれ", "青田風", "若葉風", "梅雨晴れや", "風鈴や", "夏の雲", "麦の秋",
        "かき氷", "夕焼けや", "遠花火", "青嵐", "夏座敷", "蛍の夜", "麦茶汲む", "雲の峰",
    ],
    "autumn": [
        "秋の風", "名月や", "虫の声", "鰯雲", "柿ひとつ", "新米や", "秋の雨", "月の夜や",
        "落ち葉舞う", "天高し", "秋の暮れ", "栗をむく", "紅葉して", "鈴虫や", "曼珠沙華", "秋深し",
    ],
    "winter": [
        "冬の朝", "初雪や", "木枯らしや", "霜の朝", "冬銀河", "湯豆腐や", "小春日や", "寒の月",
        "枯れ木立", "日向ぼこ", "冬の星", "雪だるま", "息白し", "炬燵にて", "冬木立", "北風や",
    ],
}
NAKA = [
    "駅までの道", "猫があくびを", "ひとりで歩く", "窓をあければ", "湯気の向こうに", "母の声する",
    "自転車こいで", "バスを待つ間に", "手紙を書けば", "弁当ひらく", "川のほとりで", "子らの笑いが",
    "坂をのぼれば", "古い本から", "電車の窓に", "湯呑みを包む", "小さき靴の", "鍋のふたとる",
    "背伸びをすれば", "遠き踏切", "路地のむこうに", "ポストの前で", "眼鏡をはずし", "洗濯物の",
]
SHIMO = [
    "靴の音", "夕ごはん", "猫の耳", "昼の月", "母の傘", "午後三時", "鳥の声", "空の青", "窓の外",
    "古時計", "影ふたつ", "遠くまで", "日曜日", "旅の駅", "湯気の中", "水たまり", "置き手紙", "ひとり言",
]


def _haiku(rng: random.Random, season: str) -> str:
    return f"{rng.choice(KAMI[season])}\u3000{rng.choice(NAKA)}\u3000{rng.choice(SHIMO)}"


def _ja_sentences(rng: random.Random, season: str) -> list[str]:
    sentences = [f"{rng.choice(TIMES)}、{rng.choice(PLACES)}で{rng.choice(OBSERVATIONS[season])}。"]
    extras = [
        lambda: f"{rng.choice(MEALS)}{rng.choice(DISHES[season])}{rng.choice(MEAL_VERBS)}。",
        lambda: f"おやつに{rng.choice(SNACKS[season])}{rng.choice(SNACK_VERBS)}。",
        lambda: f"{rng.choice(PEOPLE)}から{rng.choice(PARCELS)}が届いた。",
        lambda: f"{rng.choice(PEOPLE)}{rng.choice(COMPANIONS)}。",
        lambda: f"{rng.choice(ACTIVITIES)}。",
        lambda: f"{rng.choice(('帰りに', '思い立って', '夕食のあと', '出かける前に'))}{rng.choice(ACTIVITIES)}。",
    ]
    for make in rng.sample(extras, k=rng.randint(2, 3)):
        sentences.append(make())
    sentences.append(f"{rng.choice(FEELINGS)}。")
    return sentences


def make_japanese(rng: random.Random) -> str:
    entries = []
    day = dt.date(2024, 1, 1)
    end = dt.date(2024, 12, 31)
    while day <= end:
        season = SEASON_OF_MONTH[day.month]
        header = f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）\u3000{rng.choice(WEATHER[season])}"
        body = "".join(_ja_sentences(rng, season))
        entries.append(f"{header}\n{body}\n今日の一句\u3000{_haiku(rng, season)}")
        day += dt.timedelta(days=rng.choice((1, 1, 2, 2)))
    return "\n\n".join(entries) + "\n"


# --------------------------------------------------------------------------------------------
# English: a pirate-voice ship's log with a shanty couplet per day
# --------------------------------------------------------------------------------------------

WINDS = [
    "a fresh nor'easter", "a lazy southerly", "a stiff westerly", "a sulking easterly", "not a breath",
    "a gusty sou'wester", "a steady trade wind", "a cold northerly",
]
SKIES = [
    "grey as pewter", "clear as a bell", "full of mare's tails", "low and sullen", "bright and bold",
    "heavy with rain", "red at dawn", "streaked with gold",
]
HEADINGS = [
    "south by west", "due east", "nor'-nor'-west", "west-sou'-west", "south-east", "north by east",
    "due south", "east-nor'-east",
]
EXCLAIMS = ["Arr,", "Blow me down,", "By thunder,", "Shiver me timbers,", "Aye,", "Avast,", "Well now,", "Yo ho,"]
WEATHER_EVENTS = [
    "the fog rolled in thick as Cook's porridge", "a squall came up from the south and soaked the lot of us",
    "the sea lay flat as a tabletop till noon", "the wind backed round to the west at four bells",
    "rain fell sideways all through the forenoon watch", "the sun came out and dried our stockings on the rail",
    "the swell grew long and slow, like the sea was breathing in its sleep",
    "lightning danced on the horizon but never came near", "a rainbow stood off the starboard quarter for an hour",
    "the waves were white-capped and cheeky all the day", "hail rattled on the deck like dried peas in a pot",
    "the moon rose fat and orange over the bowsprit",
]
CREW = [
    "Old Tom", "the bosun", "young Pip", "One-Eyed Molly", "Cook", "the first mate", "Barnaby the carpenter",
    "Biscuit the ship's cat", "Long Sal", "the cabin boy", "Captain Redwhistle", "Mister Gubbins the navigator",
]
CREW_ACTIONS = [
    "swore blind a mermaid waved from the larboard bow", "mended the mainsail with a bit of twine and a lot of cursing",
    "lost three games of dice and a very fine hat", "sang the same shanty eleven times before breakfast",
    "caught a fish the size of a rowing boat", "fell asleep in the crow's nest and snored like a walrus",
    "polished the brass till it shone like a second sun", "spotted a sail on the horizon, but it was only a cloud",
    "taught the parrot three new words, none of them polite", "burned the biscuits again",
    "danced a hornpipe on the capstan for a tot of rum", "climbed the rigging faster than a monkey with a grudge",
    "found a bottle with a map in it, though the map was of a cabbage patch", "tied a knot nobody could untie",
    "counted the barrels twice and got two different answers", "was sick over the side, poor soul",
]
SHIP_EVENTS = [
    "We took on fresh water at {port}", "We sighted {port} at dusk and kept well off the rocks",
    "We traded a barrel of salt pork for lemons at {port}", "We passed a merchantman bound for {port}",
    "The hold smells of {smell}", "Rations today were {ration}", "We pumped the bilge for two hours",
    "We scraped the barnacles from the hull in the shallows off {port}",
    "A gull stole a whole kipper from the galley", "The compass spun like a top for a minute, then behaved",
]
PORTS = [
    "Port Mackerel", "Gullwing Harbour", "the Isle of Crooked Pines", "Saltmarsh Quay", "Barnacle Point",
    "Lanternfall", "Cape Fiddler", "Rumbelow Cove", "the Three Sisters Rocks", "Old Anchor Bay",
]
SMELLS = ["tar and wet rope", "old cheese and older socks", "pickled herring", "lamp oil and rain", "cinnamon, somehow"]
RATIONS = [
    "hard biscuit and a spoon of treacle", "pea soup thick enough to stand a knife in", "salt beef and a sour apple",
    "fish stew, with more fish than stew", "porridge, cold, and a kind word from Cook",
]
CLOSINGS = [
    "Tomorrow we make for {port}, if the wind be kind.", "All hands in good spirits, save the parrot.",
    "Log closed at eight bells. Fair winds to whoever reads this.", "Keep a weather eye, says I, and the lanterns lit.",
    "The Captain says we'll see {port} by Sunday, and the Captain is seldom wrong.",
    "No sign of the Grey Widow's sails today, and glad of it.", "Double rum for the larboard watch, by order.",
    "I'll sleep with one boot on tonight.",
]
SHANTY_OPENERS = ["Oh,", "Now", "Well,", "And", "Hey,", "Then"]
SHANTY_SUBJECTS = [
    "the cook has burned the beans", "the bosun's lost his boots", "the captain's hat blew off",
    "the parrot's learned to sing", "the rum is running low", "the moon is on the mast",
    "the anchor's up at last", "the gulls are in the rigging", "the wind has changed its mind",
    "the map is upside down", "the cat has found the cheese", "the sails are full of holes",
    "the deck is slick with rain", "the stars are out to play", "the tide is turning fast",
]
SHANTY_REFRAINS = [
    "So haul away, me hearties,", "Sing yo-ho, me bonny lads,", "Then pull, ye dogs, and pull again,",
    "Heave ho and roll her down,", "Way hey, and up she rises,", "So stamp and go, my jolly crew,",
]
RHYMES = [
    ["across the silver sea", "where the wind blows free", "for the likes of you and me", "beneath the leeward lee"],
    ["before the coming gale", "with a patch upon the sail", "and a bucket on the rail", "with a tankard of ale"],
    ["all through the stormy night", "by the lantern's yellow light", "till the morning comes in sight", "with the stars so bright"],
    ["a hundred leagues from shore", "where the breakers roar", "and we'll bend the oar once more", "as we've done before"],
    ["across the windy bay", "through the salt and spray", "at the breaking of the day", "and we're bound away"],
    ["on the rolling foam", "far from hearth and home", "wherever sailors roam", "to the harbour home"],
]


def _en_body(rng: random.Random) -> str:
    def fill(text: str) -> str:
        return text.format(port=rng.choice(PORTS), smell=rng.choice(SMELLS), ration=rng.choice(RATIONS))

    crew = rng.sample(CREW, k=2)
    actions = rng.sample(CREW_ACTIONS, k=2)
    parts = [
        f"{rng.choice(EXCLAIMS)} {rng.choice(WEATHER_EVENTS)}.",
        f"{crew[0]} {actions[0]}.",
        fill(rng.choice(SHIP_EVENTS)) + ".",
    ]
    if rng.random() < 0.7:
        parts.append(f"{crew[1]} {actions[1]}.")
    if rng.random() < 0.5:
        parts.append(fill(rng.choice(SHIP_EVENTS)) + ".")
    parts.append(fill(rng.choice(CLOSINGS)))
    return " ".join(_capitalise(part) for part in parts)


def _shanty(rng: random.Random) -> str:
    group = rng.choice(RHYMES)
    first, second = rng.sample(group, k=2)
    return (
        f"Shanty: {rng.choice(SHANTY_OPENERS)} {rng.choice(SHANTY_SUBJECTS)} {first}, / "
        f"{rng.choice(SHANTY_REFRAINS)} {second}!"
    )


def _capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def make_english(rng: random.Random) -> str:
    entries = []
    for day in range(1, 166):
        header = (
            f"Day {day} aboard the Salt Magpie. Wind: {rng.choice(WINDS)}. Sky: {rng.choice(SKIES)}. "
            f"Heading: {rng.choice(HEADINGS)}."
        )
        body = _en_body(rng)
        entries.append(f"{header}\n{body}\n{_shanty(rng)}")
    return "\n\n".join(entries) + "\n"


# --------------------------------------------------------------------------------------------

def duplicate_share(text: str) -> float:
    lines = [line for line in text.splitlines() if line.strip()]
    counts = Counter(lines)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    return duplicates / len(lines)


def main() -> None:
    corpora = {
        "ja-haiku-diary.txt": make_japanese(random.Random(SEED)),
        "en-pirate-log.txt": make_english(random.Random(SEED + 1)),
    }
    for name, text in corpora.items():
        data = text.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise SystemExit(f"{name}: {len(data)} bytes is over the {MAX_BYTES} byte cap")
        (HERE / name).write_bytes(data)
        lines = [line for line in text.splitlines() if line.strip()]
        print(
            f"{name}: {len(data):,} bytes, {len(text):,} characters, {len(lines):,} non-blank lines, "
            f"{duplicate_share(text):.2%} duplicate lines"
        )


if __name__ == "__main__":
    main()
