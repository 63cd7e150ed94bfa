"""Screenshots of llmschool pages in headless Chromium (for the README and for looking).

    python scripts/screenshot.py http://127.0.0.1:8000/ out.png [--login student:pass] [--lang en] [--width 1280]
"""
import argparse

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("output")
    parser.add_argument("--login", help="username:password")
    parser.add_argument("--lang", default="ja")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--full", action="store_true", help="whole page, not just the viewport")
    args = parser.parse_args()
    base = args.url.split("/", 3)
    origin = "/".join(base[:3])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(locale="ja-JP" if args.lang == "ja" else "en-US",
                                viewport={"width": args.width, "height": args.height})
        if args.login:
            username, password = args.login.split(":", 1)
            page.goto(f"{origin}/accounts/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", password)
            page.click("main button[type=submit]")
        page.goto(args.url)
        if page.locator("html").get_attribute("lang") != args.lang:
            if page.locator(".nav-toggle").is_visible():
                page.click(".nav-toggle")
            page.select_option("#lang-select", args.lang)
            page.wait_for_load_state("networkidle")
            page.goto(args.url)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=args.output, full_page=args.full)
        browser.close()


if __name__ == "__main__":
    main()
