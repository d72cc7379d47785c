fn main() {
    kvinit::main()
}
