#!/usr/bin/env bash
# Install Face Kiosk from this unpacked folder and add it to the desktop menu.
#
#   ./install-linux.sh                  for the current user (no root needed)
#   sudo ./install-linux.sh --system    for every user: /opt, /usr/share, /usr/local/bin
#   ./install-linux.sh --desktop-icon   also put an icon on the desktop (to double-click)
#   ./install-linux.sh --autostart      also start it in kiosk mode at login (the kiosk PC)
#   ./install-linux.sh --uninstall      remove the app, its menu entry and icons
#
# The gallery (enrolled people, visits) is never touched: it lives in the user's data folder
# (~/.local/share/face-kiosk) and survives reinstalling and uninstalling.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=user
action=install
desktop_icon=0
autostart=0
for arg in "$@"; do
    case "$arg" in
        --system) mode=system ;;
        --uninstall) action=uninstall ;;
        --desktop-icon) desktop_icon=1 ;;
        --autostart) autostart=1 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-linux.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

if [[ "$mode" == system ]]; then
    prefix=/opt/face-kiosk
    apps=/usr/share/applications
    icons=/usr/share/icons/hicolor
    bindir=/usr/local/bin
    autostart_dir=/etc/xdg/autostart
else
    data=${XDG_DATA_HOME:-$HOME/.local/share}
    prefix="$data/face-kiosk-app"
    apps="$data/applications"
    icons="$data/icons/hicolor"
    bindir="$HOME/.local/bin"
    autostart_dir="${XDG_CONFIG_HOME:-$HOME/.config}/autostart"
fi
entry="$apps/face-kiosk.desktop"
icon="$icons/512x512/apps/face-kiosk.png"
desktop_dir=$( (command -v xdg-user-dir >/dev/null && xdg-user-dir DESKTOP) || echo "$HOME/Desktop")

refresh_menus() {
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" 2>/dev/null || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$icons" 2>/dev/null || true
}

remove_app_folder() {
    # Only ever delete a folder that is an installed face-kiosk (has the app and its files).
    if [[ -d "$prefix" && -x "$prefix/face-kiosk" && -d "$prefix/_internal" ]]; then
        rm -rf -- "$prefix"
    fi
}

if [[ "$action" == uninstall ]]; then
    rm -f -- "$entry" "$icon" "$desktop_dir/face-kiosk.desktop" "$autostart_dir/face-kiosk.desktop"
    [[ -L "$bindir/face-kiosk" ]] && rm -f -- "$bindir/face-kiosk"
    remove_app_folder
    refresh_menus
    echo "Face Kiosk removed. Enrolled people and visits are kept in ~/.local/share/face-kiosk."
    exit 0
fi

if [[ ! -x "$here/face-kiosk" || ! -d "$here/_internal" ]]; then
    echo "install-linux.sh: run me from the unpacked face-kiosk folder (face-kiosk and _internal/ next to me)" >&2
    exit 1
fi

# Copy the app unless it is being installed in place.
if [[ "$here" != "$prefix" ]]; then
    remove_app_folder
    mkdir -p "$(dirname "$prefix")"
    cp -a "$here" "$prefix"
fi

# Exec= needs the absolute path, quoted as the Desktop Entry spec says.
exec_path=$(printf '%s' "$prefix/face-kiosk" | sed -e 's/[\\"`$]/\\&/g')
mkdir -p "$apps" "$(dirname "$icon")" "$bindir"
sed -e "s|^Exec=.*|Exec=\"$exec_path\"|" -e "s|^TryExec=.*|TryExec=$prefix/face-kiosk|" \
    "$here/face-kiosk.desktop" > "$entry"
chmod 644 "$entry"
cp "$prefix/_internal/resources/icons/face-kiosk.png" "$icon"
# The admin commands (face-kiosk self-test, enroll, people ...) from a terminal.
ln -sfn "$prefix/face-kiosk" "$bindir/face-kiosk"

if [[ "$desktop_icon" == 1 ]]; then
    mkdir -p "$desktop_dir"
    cp "$entry" "$desktop_dir/face-kiosk.desktop"
    chmod +x "$desktop_dir/face-kiosk.desktop"
    # GNOME only starts desktop launchers it was told to trust.
    command -v gio >/dev/null && gio set "$desktop_dir/face-kiosk.desktop" metadata::trusted true 2>/dev/null || true
fi
if [[ "$autostart" == 1 ]]; then
    mkdir -p "$autostart_dir"
    sed -e "s|^Exec=.*|Exec=\"$exec_path\" gui --kiosk|" -e "s|^Name=.*|Name=Face Kiosk (kiosk mode)|" \
        "$entry" > "$autostart_dir/face-kiosk.desktop"
    echo "X-GNOME-Autostart-Delay=5" >> "$autostart_dir/face-kiosk.desktop"
fi
refresh_menus

echo "Face Kiosk installed in $prefix"
echo "  menu entry: $entry"
echo "  commands:   $bindir/face-kiosk (e.g. 'face-kiosk self-test')"
[[ "$autostart" == 1 ]] && echo "  autostart:  $autostart_dir/face-kiosk.desktop (kiosk mode at login)"
case ":$PATH:" in *":$bindir:"*) ;; *) echo "  note: $bindir is not on your PATH; the menu entry works anyway" ;; esac
