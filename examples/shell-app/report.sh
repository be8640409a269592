#!/bin/bash
# Sales report: joins the orders (JSON, read with jq) with the product list
# (CSV, read with awk), and prints totals per category, per customer and per
# month. Deterministic for its input. Usage: report.sh [ORDERS.json [PRODUCTS.csv]]
set -euo pipefail
export LC_ALL=C

orders=${1:-/app/data/orders.json}
products=${2:-/app/data/products.csv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

store=$(jq -r .store "$orders")
period=$(jq -r .period "$orders")
currency=$(jq -r .currency "$orders")

# one line per sold item: month customer sku qty (refunded orders left out)
jq -r '.orders[] | select((.status // "paid") != "refunded")
       | . as $o | .items[] | [($o.date | .[0:7]), $o.customer, .sku, .qty] | @tsv' \
  "$orders" >"$work/lines.tsv"

# products.csv -> sku<TAB>title<TAB>category<TAB>price; a quoted field may
# hold commas (plain POSIX awk: Debian's awk is mawk, no FPAT)
tail -n +2 "$products" | tr -d '\r' | awk -v OFS='\t' '{
    n = 0; f = ""; q = 0
    for (i = 1; i <= length($0); i++) {
      ch = substr($0, i, 1)
      if (ch == "\"") q = !q
      else if (ch == "," && !q) { out[++n] = f; f = "" }
      else f = f ch
    }
    out[++n] = f
    print out[1], out[2], out[3], out[4]
  }' >"$work/products.tsv"

# join on sku: month customer sku qty title category price amount
awk -F'\t' -v OFS='\t' 'NR == FNR { title[$1] = $2; cat[$1] = $3; price[$1] = $4; next }
  { print $1, $2, $3, $4, title[$3], cat[$3], price[$3], $4 * price[$3] }' \
  "$work/products.tsv" "$work/lines.tsv" >"$work/sales.tsv"

money() { awk -v c="$1" 'BEGIN { printf "%d.%02d", c / 100, c % 100 }'; }
total=$(awk -F'\t' '{ s += $8 } END { print s + 0 }' "$work/sales.tsv")
count=$(jq '[.orders[] | select((.status // "paid") != "refunded")] | length' "$orders")
refunded=$(jq '[.orders[] | select(.status == "refunded")] | length' "$orders")

line=$(printf '%*s' 44 '' | tr ' ' '=')
echo "$line"
printf '%s — sales report %s\n' "$store" "$period" | tr '[:lower:]' '[:upper:]'
echo "$line"
printf 'orders: %d paid, %d refunded\n' "$count" "$refunded"
printf 'revenue: %s %s\n' "$(money "$total")" "$currency"
echo
echo "by category:"
awk -F'\t' '{ s[$6] += $8; q[$6] += $4 } END { for (c in s) printf "%s\t%d\t%d\n", c, q[c], s[c] }' "$work/sales.tsv" |
  sort -t$'\t' -k3,3nr -k1,1 |
  while IFS=$'\t' read -r c q s; do printf '  %-12s %4d units %10s\n' "$c" "$q" "$(money "$s")"; done
echo
echo "by customer:"
awk -F'\t' '{ s[$2] += $8 } END { for (c in s) printf "%s\t%d\n", c, s[c] }' "$work/sales.tsv" |
  sort -t$'\t' -k2,2nr -k1,1 |
  while IFS=$'\t' read -r c s; do printf '  %-12s %10s\n' "$c" "$(money "$s")"; done |
  sed -E 's/^  ([a-z])/  \U\1/'
echo
echo "by month:"
cut -f1,8 "$work/sales.tsv" | sort | awk -F'\t' '{ s[$1] += $2 } END { for (m in s) print m, s[m] }' | sort |
  while read -r m s; do printf '  %s %10s  %s\n' "$m" "$(money "$s")" "$(printf '%*s' $((s / 2000)) '' | tr ' ' '#')"; done
echo
best=$(sort -t$'\t' -k8,8nr -k3,3 "$work/sales.tsv" | head -n1 | cut -f5)
printf 'largest line: %s\n' "$best"
printf 'checksum: %s\n' "$(cut -f1-4,8 "$work/sales.tsv" | sort | sha256sum | cut -c1-16)"
