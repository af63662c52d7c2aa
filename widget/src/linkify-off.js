// markdown-it always constructs a linkify-it instance; the widget renders with linkify off, so this
// stand-in (which finds no links) replaces the 10 KB library in the bundle.
export default class LinkifyOff {
  test() {
    return false;
  }
  pretest() {
    return false;
  }
  match() {
    return null;
  }
  matchAtStart() {
    return null;
  }
}
