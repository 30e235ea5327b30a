"""The review queue in a browser: faces from two scanned videos, each beside the proposed
person's enrolled faces; filtered by person and by video; decided with the keyboard (the
approved tag shows on the video's page) and in bulk; what a viewer sees."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import expect

from likeness.enums import Role
from tests.conftest import AUTH, data_file
from tests.ui.conftest import PHONE, Watched
from tests.ui.test_videos import ALEX, CLIP, LIN, enroll_both, first_seconds, upload

CURRENT = re.compile(r"\bcurrent\b")
IMAGES_LOADED = ("[...document.querySelectorAll('.review-item img')]"
                 ".every(img => img.complete && img.naturalWidth > 0)")


def test_review_with_the_keyboard_in_bulk_and_by_filter(
        open_page: Callable[..., Watched], server: str, screenshots: Path,
        tmp_path: Path) -> None:
    enroll_both(server)
    clip = upload(server, data_file(CLIP), "hamilton_clip.mp4")
    start = upload(server, first_seconds(tmp_path), "hamilton_start.mp4")
    editor = open_page(Role.EDITOR)
    page = editor.go("/ui/review")
    items = page.locator(".review-item[data-item]")
    expect(items).to_have_count(4)  # Lin and Alex at 0:00, in each video
    expect(page.locator("#review-total")).to_have_text("4 waiting")
    first = items.first
    expect(first.get_by_role("img", name="The face in hamilton_clip.mp4 at 0:00")).to_be_visible()
    expect(first.get_by_role("img", name=re.compile(r"enrolled face 1$"))).to_be_visible()
    expect(first.locator(".badge.review")).to_have_text(re.compile(r"^\d+% similar$"))
    page.wait_for_function(IMAGES_LOADED)
    expect(first).to_have_class(CURRENT)
    editor.shot(screenshots, "review-desktop")

    for key, current in (("j", 1), ("ArrowDown", 2), ("k", 1), ("ArrowUp", 0)):
        page.keyboard.press(key)
        expect(items.nth(current)).to_have_class(CURRENT)

    page.get_by_label("Video").select_option(label="hamilton_start.mp4 (2)")
    page.wait_for_url(f"**/ui/review?*video={start}*")
    expect(items).to_have_count(2)
    for index in range(2):
        expect(items.nth(index)).to_contain_text("hamilton_start.mp4")
    page.get_by_label("Person").select_option(label=f"{ALEX} (2)")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text(f"{ALEX}?")
    page.get_by_role("link", name="Clear filters").click()
    expect(items).to_have_count(4)

    page.get_by_label("Person").select_option(label=f"{ALEX} (2)")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("hamilton_clip.mp4")
    page.keyboard.press("g")  # the face is too small to enroll: refused, and it stays
    expect(page.locator("#flash .flash.error")).to_contain_text("below the 48 px minimum")
    expect(items).to_have_count(2)
    page.keyboard.press("a")
    decided = page.locator(".review-item.decided")
    expect(decided).to_have_count(1)
    expect(decided.first).to_contain_text(f"approved {ALEX} tagged in hamilton_clip.mp4 at 0:00")
    expect(page.locator("#flash")).to_be_empty()  # the refusal is gone
    expect(page.locator("#review-total")).to_have_text("1 waiting with these filters")
    expect(items).to_have_count(1)
    expect(items.first).to_have_class(CURRENT)  # the next one
    expect(items.first).to_be_focused()
    page.keyboard.press("r")
    expect(decided).to_have_count(2)
    expect(decided.nth(1)).to_contain_text(f"rejected Not {ALEX}: this face in "
                                           "hamilton_start.mp4 at 0:00")
    expect(items).to_have_count(0)
    editor.shot(screenshots, "review-decided-desktop")

    decided.first.get_by_role("link", name="hamilton_clip.mp4").click()
    page.wait_for_url(f"**/ui/videos/{clip}")
    alex = page.locator("table.tags tbody tr", has_text=ALEX)
    expect(alex.locator(".badge")).to_have_text("review")
    expect(page.get_by_role("group", name=f"When {ALEX} appears")
           .get_by_role("button")).to_have_count(1)

    page.goto(f"{server}/ui/review")
    expect(items).to_have_count(2)  # Lin's, in both videos
    expect(page.get_by_label("Person")).to_contain_text(f"{LIN} (2)")
    checkbox = items.first.get_by_role("checkbox")
    page.keyboard.press("x")
    expect(checkbox).to_be_checked()
    page.keyboard.press("x")
    expect(checkbox).not_to_be_checked()
    page.get_by_label("All on this page").check()
    expect(items.nth(1).get_by_role("checkbox")).to_be_checked()
    page.get_by_role("button", name="Approve selected").click()
    expect(page.locator("#flash")).to_have_text("Approved 2 items.")
    expect(page.get_by_text("Nothing to review.")).to_be_visible()
    expect(page.locator("#review-total")).to_have_text("0 waiting")

    page.get_by_label("Showing").select_option("approved")
    expect(items).to_have_count(3)
    expect(items.locator(".badge.approved")).to_have_count(3)
    with httpx.Client(base_url=server, headers=AUTH) as api:
        assert api.get("/review", params={"status": "approved"}).json()["total"] == 3
        assert api.get("/review", params={"status": "rejected"}).json()["total"] == 1


def test_review_on_a_phone_and_as_a_viewer(open_page: Callable[..., Watched], server: str,
                                          screenshots: Path) -> None:
    lin, _ = enroll_both(server)
    upload(server, data_file(CLIP), "hamilton_clip.mp4")
    editor = open_page(Role.EDITOR, viewport=PHONE)
    page = editor.go("/ui/review")
    items = page.locator(".review-item[data-item]")
    expect(items).to_have_count(2)
    page.wait_for_function(IMAGES_LOADED)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    editor.shot(screenshots, "review-phone")
    items.filter(has_text=f"{ALEX}?").get_by_role("button", name="Reject", exact=True).click()
    expect(page.locator(".review-item.decided")).to_contain_text("rejected")
    expect(items).to_have_count(1)

    viewer = open_page(Role.VIEWER)
    page = viewer.go(f"/ui/review?person={lin}")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text(f"{LIN}?")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.locator("#review-keys")).not_to_contain_text("approve")
    page.keyboard.press("a")  # nothing to press for a viewer
    expect(items).to_have_count(1)
    refused = page.request.post(f"{server}/ui/review/1/approve")
    assert refused.status == 403
