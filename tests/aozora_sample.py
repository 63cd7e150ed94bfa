"""An Aozora Bunko-style text written for the tests (no downloads): title and author, the
header legend, ruby with and without ｜, editor notes, gaiji notes with a JIS X 0213 code, a
Unicode code and none, and the 底本 footer; and the zip Aozora Bunko would ship it in."""
import io
import zipfile

HEADER = """山の手紙
森川花子

-------------------------------------------------------
【テキスト中に現れる記号について】

《》：ルビ
（例）山路《やまみち》

｜：ルビの付く文字列の始まりを特定する記号
（例）春の｜小川《おがわ》

［＃］：入力者注　主に外字の説明や、傍点の位置の指定
　　　（数字は、JIS X 0213の面区点番号またはUnicode、底本のページと行数）
（例）※［＃「言＋墟のつくり」、第4水準2-88-74］
-------------------------------------------------------

［＃３字下げ］一［＃「一」は中見出し］

"""

BODY_LINES = [
    "　山路《やまみち》を登りながら、こう考えた。",
    "　春の｜小川《おがわ》はさらさら行くよ。",
    "　※［＃「言＋墟のつくり」、第4水準2-88-74］をつくな、と祖母は言った。",
    "　①番目の手紙には※［＃「丸印の二」、U+2461］と書いてあった。",
    "　見知らぬ※［＃「土へん＋竒」、183-2］の字もあった。",
    "　彼は［＃「彼は」に傍点］走った。",
    "［＃改ページ］",
]

FOOTER = """


底本：「山の手紙」架空書房
　　　1999（平成11）年1月1日第1刷発行
入力：テスト
校正：テスト
青空文庫作成ファイル：
このファイルは、インターネットの図書館、青空文庫（https://www.aozora.gr.jp/）で作られました。
"""

# What the body lines become once cleaned.
CLEAN_BODY_LINES = [
    "　山路を登りながら、こう考えた。",
    "　春の小川はさらさら行くよ。",
    "　譃をつくな、と祖母は言った。",
    "　①番目の手紙には②と書いてあった。",
    "　見知らぬの字もあった。",
    "　彼は走った。",
]

MARKUP = ("《", "》", "｜", "［＃", "※", "底本", "【テキスト中に現れる記号について】", "-----")


def aozora_text(repeats: int = 1) -> str:
    """The header, the body `repeats` times (enough text to train on when large), the footer."""
    return HEADER + "\n".join(BODY_LINES * repeats) + "\n　おわり。\n" + FOOTER


def aozora_zip(text: str | None = None, *, encoding: str = "cp932", crlf: bool = True, member: str = "yama/yama.txt",
               extra: dict | None = None) -> bytes:
    """A zip as Aozora Bunko ships one: a folder with the CP932 text (CRLF) and maybe images."""
    text = aozora_text() if text is None else text
    if crlf:
        text = text.replace("\n", "\r\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, text.encode(encoding))
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()
