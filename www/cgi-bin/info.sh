#!/bin/sh
# The CGI environment this script was given, as plain text.
printf 'Content-Type: text/plain; charset=utf-8\n\n'
printf 'CGI environment of %s\n\n' "$SCRIPT_NAME"
env | LC_ALL=C sort
