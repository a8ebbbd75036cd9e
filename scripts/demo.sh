#!/usr/bin/env bash
# Sets everything up, builds the index from the shipped content, and answers sample rumours.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
FC=.venv/bin/factcheck
echo "==> building the index from the shipped fact-checks"
$FC ingest rebuild
MEDQUAD=../shared/corpora/medquad/9_CDC_QA
if [ -d "$MEDQUAD" ]; then
  echo "==> ingesting a small vetted corpus (MedQuAD, CDC subset) as evidence"
  $FC ingest add "$MEDQUAD" --publisher "CDC (MedQuAD, NIH)" --language en
fi
ask() { echo; echo "──── $1"; $FC ask "$1"; }
ask "Forwarded many times: the MMR jab made my neighbour's boy autistic, don't let them inject your kids!!"
ask "on dit que manger de l'ail protège du coronavirus, c'est vrai ?"
ask "عاجل: شبكات الجيل الخامس 5G هي اللي بتنشر فيروس كورونا، شيروها"
ask "Drinking cold water after meals causes cancer, doctors are hiding it"
ask "ابني بلع كلور، ماذا أفعل؟"
