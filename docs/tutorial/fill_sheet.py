"""Fill in two rows of the tutorial's review sheet, as a reviewer would in a spreadsheet.

python docs/tutorial/fill_sheet.py tutorial-out/sheet.csv
"""

import csv
import sys

path = sys.argv[1]
with open(path, encoding="utf-8-sig", newline="") as f:
    rows = list(csv.DictReader(f))
for row in rows:
    key = (row["conversation_id"], row["item_id"])
    if key == ("t003", "solved"):  # 改判: the reviewer sees a gap the model did not
        reason = "未告知积分到期前是否有提醒"
        row.update(decision="改判", tier="一般", reason=reason, reviewer="张三", kind="复核")
    elif key == ("t002", "solved"):  # 维持原判
        row.update(decision="维持", reviewer="张三", kind="复核")
with open(path, "w", encoding="utf-8-sig", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
print(f"{path}: 2 rows filled in")
