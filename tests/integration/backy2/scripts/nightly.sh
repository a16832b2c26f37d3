#!/bin/bash
# A backy2 administrator's nightly script, written for backy2 and run unchanged against
# Blockvault (the test puts a `backy2` command that starts Blockvault first in PATH).
# Usage: nightly.sh IMAGE WORKDIR
set -euo pipefail
IMAGE=$1
WORK=$2

backy2 initdb

# Two backups of vm1: the first tagged, the second incremental from the newest version.
backy2 backup -s nightly-1 -t daily,weekly "file://$IMAGE" vm1 > /dev/null
BASE=$(backy2 -m ls vm1 | awk -F'|' '{ print $7 }' | tail -n 1)
backy2 backup -s nightly-2 -f "$BASE" "file://$IMAGE" vm1 > /dev/null

# Field 7 of `backy2 -m ls` is the version UID; 8 valid, 10 tags.
NEWEST=$(backy2 -m ls vm1 | awk -F'|' '$1 == "version" { print $7 }' | tail -n 1)
COUNT=$(backy2 -ms ls | awk -F'|' '$3 == "vm1"' | wc -l)
echo "versions $COUNT newest $NEWEST base $BASE"
backy2 -m ls -t daily | awk -F'|' '{ print "daily", $7, $8, $10 }'
INVALID=$(backy2 -m ls | awk -F'|' '$8 != 1' | wc -l)
echo "invalid $INVALID"

# Statistics: field 3 UID, 5 size in bytes, 7 bytes read, 15 seconds.
backy2 -m stats | awk -F'|' '$1 == "statistics" { print "stats", $3, $5, $7 }'
backy2 -m stats -l 1 | awk -F'|' '{ print "last", $3 }'

# Metadata export to a file and to stdout, removal, import from a file.
backy2 export "$NEWEST" "$WORK/newest.backup"
backy2 export "$NEWEST" - > "$WORK/newest.stdout"
backy2 rm -f "$NEWEST"
backy2 import "$WORK/newest.backup" > /dev/null

# backy2's scrub reads the data; restore to a file URL.
backy2 scrub "$NEWEST"
backy2 restore "$NEWEST" "file://$WORK/restored.img" > /dev/null

# Rotation: protect the oldest, fail to remove it, unprotect, remove, full cleanup.
OLDEST=$(backy2 -m ls vm1 | awk -F'|' '{ print $7 }' | head -n 1)
backy2 protect "$OLDEST"
if backy2 rm -f "$OLDEST" 2> /dev/null; then echo "removed a protected version"; exit 1; fi
echo "protected $OLDEST"
backy2 unprotect "$OLDEST"
backy2 rm -f "$OLDEST" > /dev/null
backy2 cleanup -f > /dev/null
backy2 -m ls | awk -F'|' '{ print "left", $7 }'
